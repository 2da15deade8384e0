"""`make bench`: build (or reuse) the datasets, run every measurement, print the table and
write bench/results.json.

    BENCH_SCALE=default|large   100k conversations and 1M log rows, or 1M and 10M
    DATABASE_URL                a Postgres server to build on (else the embedded one)
    BENCH_QUICK=1               shorter rounds, for trying the benchmark itself out
    BENCH_ONLY=1,2,3,3b,4,5,7,8,9,10,11 only these measurements; 6 (not in the default
                                run): what the proposed edge changes would gain; 7 (the
                                report), 8 (webhooks), 9 (the production path), 10 (heavy
                                reads against the gate) and 11 (the human side) alone build
                                only what they use (and leave results.json as it was)
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

from bench import bulkheads, cases, dataset, human, production, report, webhooks
from bench.harness import quick_from_environment, table

RESULTS = Path(__file__).resolve().parent / "results.json"
# Each run adds log rows (refused messages, activations, resumes; about 150k at the default
# scale): a dataset is built again once its log has grown by 20% + this many rows.
DRIFT = 200_000
MEASUREMENTS = {
    "1": cases.gate_vs_select_one,
    "2": cases.gate_latency,
    "3": cases.gate_over_http,
    "3b": cases.gate_vs_naive,
    "4": cases.sweep,
    "5": cases.activate_resume,
    "6": cases.edge_variants,
    "7": report.run,
    "8": webhooks.webhooks,
    "9": production.production,
    "10": bulkheads.run,
    "11": human.human,
}
# Run only when asked for (BENCH_ONLY=6): what proposed changes to other files would gain.
OPTIONAL = {"6"}
# Asked for alone, these build their own databases (the human side: the sweep's only) and
# print their own table: nothing else is built, and results.json is left as it was.
ALONE = {"7": report.main, "8": webhooks.main, "10": bulkheads.main, "11": human.main}


def machine(url: str) -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with dataset.connect(url) as connection:
        row = connection.execute("select version()").fetchone()
        settings = dict(
            connection.execute(
                "select name, current_setting(name) from pg_settings where name in"
                " ('shared_buffers', 'work_mem', 'max_connections', 'synchronous_commit',"
                " 'jit')"
            ).fetchall()
        )
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "postgres": row[0] if row else "unknown",
        "postgres_settings": settings,
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    started = time.perf_counter()
    scale = dataset.scale_from_environment()
    only = {part.strip() for part in os.environ.get("BENCH_ONLY", "").split(",") if part.strip()}
    quick = quick_from_environment()
    for key, alone in ALONE.items():
        if only == {key}:
            alone()
            return
    server, source = dataset.server_url()
    print(f"Takeover benchmarks, scale {scale.name}, Postgres: {source}", flush=True)

    def ensure(label: str, build: Any) -> dataset.Built:
        began = time.perf_counter()
        built: dataset.Built = build()
        built.announce(began, label)
        return built

    main_name = f"takeover_bench_{scale.name}"
    main_db = ensure(
        f"{scale.conversations:,} conversations, {scale.log_rows:,} log rows",
        lambda: dataset.ensure(
            server, main_name, "conv", scale.conversations, scale.log_rows, drift=DRIFT
        ),
    )
    # The production measurements (9) use the main dataset only: alone, they build nothing
    # else, and the main dataset stands in for the others.
    production_alone = bool(only) and only <= {"9"}
    if production_alone:
        nolog, more, empty, sweep_db = main_db, None, main_db, main_db
    else:
        nolog = ensure(
            f"{scale.conversations:,} conversations, no log rows",
            lambda: dataset.ensure(
                server, f"{main_name}_nolog", "conv", scale.conversations, 0, drift=DRIFT
            ),
        )
        more_rows = scale.log_rows * 5
        more = (
            ensure(
                f"{scale.conversations:,} conversations, {more_rows:,} log rows",
                lambda: dataset.ensure(
                    server, f"{main_name}_morelog", "conv", scale.conversations, more_rows
                ),
            )
            if scale.name == "default"
            else None
        )
        empty = ensure("demo seed", lambda: dataset.ensure_empty(server))
        sweep_db = ensure(
            f"{dataset.SWEEP_CONVERSATIONS:,} conversations for the sweep",
            lambda: dataset.ensure_sweep(server),
        )
    built_seconds = time.perf_counter() - started
    bench = cases.Bench(
        scale=scale,
        main=main_db,
        nolog=nolog,
        more=more,
        empty=empty,
        sweep=sweep_db,
        quick=quick,
    )
    if production_alone:
        production.production(bench)
        print()
        print(table(bench.figures))
        return
    info = machine(main_db.url)
    for key, measurement in MEASUREMENTS.items():
        if (only and key not in only) or (not only and key in OPTIONAL):
            continue
        measurement(bench)
    runtime = time.perf_counter() - started
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    rendered = table(bench.figures)
    print()
    print(rendered)
    print()
    for title, plan in bench.plans.items():
        print(f"-- {title}\n{plan}\n")
    missed = [figure.key for figure in bench.figures if figure.met is False]
    results = {
        "scale": scale.name,
        "quick": quick,
        "postgres_source": source,
        "machine": info,
        "datasets": {
            built.name: {
                "conversations": built.conversations,
                "log_rows": built.log_rows,
                "reused": built.reused,
                "build_seconds": round(built.build_seconds, 1),
            }
            for built in (main_db, nolog, more, empty, sweep_db)
            if built is not None
        },
        "figures": [figure.as_json() for figure in bench.figures],
        "plans": bench.plans,
        "table_markdown": rendered,
        "missed_targets": missed,
        "datasets_seconds": round(built_seconds, 1),
        "runtime_seconds": round(runtime, 1),
    }
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(
        f"{len(bench.figures)} figures, {len(missed)} target(s) missed"
        f"{': ' + ', '.join(missed) if missed else ''}; datasets {built_seconds:.0f}s,"
        f" total {runtime:.0f}s; written to {RESULTS.relative_to(Path.cwd())}"
        if RESULTS.is_relative_to(Path.cwd())
        else f"written to {RESULTS}",
        flush=True,
    )
