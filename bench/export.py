"""`make bench`, the audit export: rows exported per second into S3 (moto, in a process of
its own, over HTTP on 127.0.0.1), and the exporter's peak Python memory (tracemalloc) for
many rows against 10,000.

    BENCH_SCALE=default|large   200,000 or 1,000,000 log rows
    DATABASE_URL                a Postgres server to build on (else the embedded one)

Writes bench/export_results.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import psycopg

from bench import dataset
from bench.harness import Figure, table
from functions.database.instance import use_database
from functions.database.postgres import PostgresDatabase
from functions.export import exporter, object_storage
from functions.local import demo
from functions.shared.config import config
from tests.processes import free_port, stop, wait_until_listening

RESULTS = Path(__file__).resolve().parent / "export_results.json"
ROWS = {"default": 200_000, "large": 1_000_000}
SMALL = 10_000
ROUNDS = 2
BUCKET = "takeover-bench-export"
ACME = "7a1c0000-0000-4000-8000-0000000000c1"
GLOBEX = "7a1c0000-0000-4000-8000-0000000000c9"


def build(server: str, rows: int) -> str:
    """A database of the demo seed and `rows` log rows over two workspaces and seven UTC days,
    inserted set-based in ten transactions; reused while it holds exactly that many."""
    name = f"takeover_bench_export_{rows}"
    url = dataset.database_url(server, name)
    if dataset.database_exists(server, name):
        with dataset.connect(url) as connection:
            row = connection.execute("select count(*) from public.ai_pause_logs").fetchone()
        if row and row[0] == rows and dataset.refresh_functions(url):
            return url
    started = time.perf_counter()
    url = dataset.recreate(server, name)
    demo.seed_if_empty(url)
    with dataset.connect(url) as connection:
        chunk = rows // 10
        for first in range(0, rows, chunk):
            connection.execute(
                """
                insert into public.ai_pause_logs (conversation_id, action, reason,
                  triggered_by, previous_ai_mode, new_ai_mode, message_id, created_at)
                select case when n %% 5 = 0 then %(globex)s::uuid else %(acme)s::uuid end,
                       'interaction_blocked', 'the customer asked for a human',
                       'support-bot', 'paused', 'paused', 'msg-' || n,
                       now() - (n %% 7) * interval '1 day'
                from generate_series(%(first)s::integer, %(last)s::integer) n
                """,
                {
                    "acme": ACME,
                    "globex": GLOBEX,
                    "first": first,
                    "last": min(rows, first + chunk) - 1,
                },
            )
        connection.execute("vacuum (analyze) public.ai_pause_logs")
    print(f"  dataset {name}: built in {time.perf_counter() - started:.1f}s", flush=True)
    return url


@contextmanager
def moto_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_listening(port, process, 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def reset(url: str) -> None:
    """Forget what was exported: the next run starts from the first row (same keys)."""
    with dataset.connect(url) as connection:
        connection.execute("delete from takeover_private.audit_export_state")


def export(url: str, limit: int) -> tuple[int, float]:
    reset(url)
    storage = object_storage.object_storage()
    assert storage is not None
    started = time.perf_counter()
    exported = exporter.export_pending(storage, config().audit_export_prefix, limit)
    return exported.rows, time.perf_counter() - started


def read_only(url: str, database: PostgresDatabase) -> tuple[int, float]:
    """The baseline: the same rows, through the same function and stream, read and dropped."""
    with psycopg.connect(url) as connection:
        snapshot = connection.execute("select pg_current_snapshot()::text").fetchone()
        bounds = connection.execute("select max(txid)::text, max(id) from public.ai_pause_logs")
        through = bounds.fetchone()
    assert snapshot
    assert through
    parameters = {
        "exported_snapshot": None,
        "target_snapshot": snapshot[0],
        "after_txid": "0",
        "after_id": 0,
        "through_txid": through[0],
        "through_id": through[1],
    }
    started = time.perf_counter()
    count = 0
    with database.stream("audit_export_rows", parameters, fetch_rows=exporter.FETCH_ROWS) as stream:
        for _ in stream:
            count += 1
    return count, time.perf_counter() - started


def peak_memory(url: str, limit: int) -> int:
    reset(url)
    storage = object_storage.object_storage()
    assert storage is not None
    tracemalloc.start()
    try:
        exporter.export_pending(storage, config().audit_export_prefix, limit)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    scale = dataset.scale_from_environment().name
    rows = ROWS[scale]
    server, source = dataset.server_url()
    print(f"Audit export benchmark, {rows:,} rows, Postgres: {source}", flush=True)
    url = build(server, rows)
    figures: list[Figure] = []
    with moto_server() as moto:
        os.environ.update(
            {
                "AUDIT_EXPORT_BUCKET": BUCKET,
                "AWS_ENDPOINT_URL_S3": moto,
                "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        )
        config.cache_clear()
        object_storage.forget_clients()
        boto3.client("s3", endpoint_url=moto).create_bucket(Bucket=BUCKET)
        database = PostgresDatabase(url, max_size=2)
        use_database(database)
        try:
            export(url, SMALL)  # warm-up: connections, the client, the caches
            rates: list[float] = []
            baselines: list[float] = []
            for _ in range(ROUNDS):
                count, seconds = export(url, rows)
                assert count == rows, count
                rates.append(count / seconds)
                count, seconds = read_only(url, database)
                assert count == rows, count
                baselines.append(count / seconds)
            small = peak_memory(url, SMALL)
            large = peak_memory(url, rows)
        finally:
            use_database(None)
            database.close()
    rate, baseline = max(rates), max(baselines)
    figures.append(
        Figure(
            key="E1",
            measurement=f"audit export into S3 (moto), {rows:,} rows, 2 workspaces x 7 days",
            value=rate,
            unit="rows/s",
            baseline=baseline,
            baseline_label="the same rows streamed from Postgres, no gzip nor upload",
            target=">= 50000",
            target_on="value",
            details={"rounds_rows_per_s": rates, "rounds_baseline_rows_per_s": baselines},
        )
    )
    figures.append(
        Figure(
            key="E2",
            measurement=f"exporter's peak Python memory (tracemalloc), {rows:,} rows",
            value=large / 1024,
            unit="KiB",
            baseline=small / 1024,
            baseline_label=f"{SMALL:,} rows",
            target="<= 1.5",
        )
    )
    rendered = table(figures)
    print()
    print(rendered)
    RESULTS.write_text(
        json.dumps(
            {
                "scale": scale,
                "rows": rows,
                "postgres_source": source,
                "load_average": os.getloadavg(),
                "figures": [figure.as_json() for figure in figures],
                "table_markdown": rendered,
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    print(f"written to {RESULTS}", flush=True)


if __name__ == "__main__":
    main()
