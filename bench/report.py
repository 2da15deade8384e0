"""7. pause-report on a big log: one workspace's report inside a log of 1M rows (10M at
BENCH_SCALE=large) against the same workspace alone in a small log, and its p50.

Its own two databases, built once with set-based SQL as the owner and reused:

- ``takeover_bench_report_<scale>``: W workspaces (50, or 500 at large) of 200
  conversations each; each workspace has 20,000 log rows over the last 60 days (4,000
  pauses of five rows: pause_activated, interaction_blocked, extend_pause,
  interaction_blocked, then auto_resume or force_resume), interleaved in time with every
  other workspace's, as a shared log is.
- ``takeover_bench_report_small``: workspace 0 alone, the same rows.

The report asks for workspace 0 over the last 30 days of its build: 10,000 rows, and a few
pauses crossing the window's start.

    python -m bench.report      (this measurement alone; make bench runs it as 7)
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import psycopg

from bench import dataset
from bench.cases import backend_cpu, one_connection
from bench.dataset import Built, Scale, connect
from bench.harness import Figure, alternate, quick_from_environment, table
from functions.database.postgres import PostgresDatabase

FORMAT = 2
CONVERSATIONS_PER_WORKSPACE = 200
PAUSES_PER_WORKSPACE = 4000  # five rows each: 20,000 rows per workspace over 60 days
HISTORY_DAYS = 60
WINDOW_DAYS = 30


def workspaces_for(scale: Scale) -> int:
    return scale.log_rows // (PAUSES_PER_WORKSPACE * 5)


def _marker(url: str) -> tuple[int, int, datetime, float] | None:
    row = dataset.marker_row(url, "select format, size, t0, build_seconds from bench.report_marker")
    return None if row is None else (row[0], row[1], row[2], row[3])


def ensure(server: str, name: str, workspaces: int) -> tuple[Built, datetime]:
    """The database `name` with `workspaces` workspaces of history, reused when its marker
    matches; its build time t0 (the history ends there)."""
    url = dataset.database_url(server, name)
    marker = _marker(url) if dataset.database_exists(server, name) else None
    if marker is not None and marker[:2] == (FORMAT, workspaces) and dataset.refresh_functions(url):
        rows = workspaces * PAUSES_PER_WORKSPACE * 5
        return Built(name, url, 0, rows, True, marker[3]), marker[2]
    started = time.perf_counter()
    url = dataset.recreate(server, name)
    with connect(url) as connection:
        t0 = _build(connection, workspaces)
        dataset.analyze(connection)
        elapsed = time.perf_counter() - started
        connection.execute(
            "insert into bench.report_marker (format, size, t0, build_seconds)"
            " values (%s, %s, %s, %s)",
            (FORMAT, workspaces, t0, elapsed),
        )
    rows = workspaces * PAUSES_PER_WORKSPACE * 5
    return Built(name, url, workspaces * CONVERSATIONS_PER_WORKSPACE, rows, False, elapsed), t0


def _build(connection: psycopg.Connection[Any], workspaces: int) -> datetime:
    arguments = {
        "w": workspaces,
        "c": CONVERSATIONS_PER_WORKSPACE,
        "n": PAUSES_PER_WORKSPACE,
        "days": HISTORY_DAYS,
    }
    with connection.transaction():
        t0 = dataset.begin_history(connection, "report_marker")
        connection.execute(
            "insert into public.workspaces (id, name) select md5('rw-' || w)::uuid,"
            " 'Report workspace ' || w from generate_series(0, %(w)s - 1) w",
            arguments,
        )
        connection.execute(
            "insert into public.teams (id, workspace_id, name) select"
            " md5('rt-' || w || '-' || t)::uuid, md5('rw-' || w)::uuid, 'Team ' || t"
            " from generate_series(0, %(w)s - 1) w, generate_series(0, 1) t",
            arguments,
        )
        connection.execute(
            "insert into public.workspace_members (workspace_id, user_id, role) select"
            " md5('rw-' || w)::uuid, md5('rm-' || w || '-' || m)::uuid,"
            " case when m = 0 then 'attendant' else 'admin' end"
            " from generate_series(0, %(w)s - 1) w, generate_series(0, 1) m",
            arguments,
        )
        # Conversation k of a workspace: team k % 3 (the third: none); all active, their
        # every pause ended.
        connection.execute(
            "insert into public.conversations (id, workspace_id, team_id) select"
            " md5('rc-' || w || '-' || k)::uuid, md5('rw-' || w)::uuid,"
            " case when k %% 3 < 2 then md5('rt-' || w || '-' || k %% 3)::uuid end"
            " from generate_series(0, %(w)s - 1) w, generate_series(0, %(c)s - 1) k",
            arguments,
        )
        # Pause n of workspace w: conversation n % c, starting n/n-th of the way through the
        # 60 days (a conversation's pauses are 72 h apart; each lasts 10 to 50 minutes),
        # shifted by w seconds so the workspaces interleave. Rows in time order, as written.
        with dataset._bulk(connection, "public.ai_pause_logs"):
            connection.execute(
                """
                insert into public.ai_pause_logs (conversation_id, workspace_id, action,
                    reason, duration_minutes, triggered_by, previous_ai_mode, new_ai_mode,
                    message_id, created_at)
                select md5('rc-' || w || '-' || n %% %(c)s)::uuid, md5('rw-' || w)::uuid,
                       (array['pause_activated', 'interaction_blocked', 'extend_pause',
                              'interaction_blocked',
                              case when n %% 2 = 0 then 'auto_resume' else 'force_resume' end]
                       )[p + 1]::public.ai_pause_action,
                       case when p = 4 and n %% 2 = 0 then 'timer_expired' end,
                       case p when 0 then 30 when 2 then 15 when 4 then 45 end,
                       case when p in (1, 3) then 'ai_agent'
                            when p = 4 and n %% 2 = 0 then 'system'
                            else md5('rm-' || w || '-' || n %% 2)::uuid::text end,
                       (case when p = 0 then 'active' else 'paused' end)::public.ai_mode,
                       (case when p = 4 then 'active' else 'paused' end)::public.ai_mode,
                       case when p in (1, 3) then 'm-' || n || '-' || p end,
                       t.start + case p
                           when 4 then make_interval(mins => 10 + (n %% 9) * 5)
                           else make_interval(mins => 2 * p) end
                from generate_series(0, %(w)s - 1) w,
                     generate_series(0, %(n)s - 1) n,
                     generate_series(0, 4) p,
                     lateral (select %(t0)s::timestamptz - make_interval(days => %(days)s)
                        + make_interval(secs => n * %(days)s * 86400.0 / %(n)s + w) as start) t
                order by 10
                """,
                {**arguments, "t0": t0},
            )
    return t0


def _plan(url: str, t0: datetime) -> str:
    """The plan of the report's read of the log (its first CTE), as the function runs it."""
    with connect(url) as connection:
        rows = connection.execute(
            "explain (analyze, buffers, costs off, timing off, summary off)"
            " select l.id, l.conversation_id, l.action, l.triggered_by, l.duration_minutes,"
            " l.created_at from public.ai_pause_logs l where l.workspace_id = md5('rw-0')::uuid"
            " and l.created_at >= %(since)s and l.created_at < %(until)s",
            {"since": t0 - timedelta(days=WINDOW_DAYS), "until": t0},
        ).fetchall()
    return "\n".join(row[0] for row in rows)


def report_caller(database: PostgresDatabase, t0: datetime, team: bool = False) -> Any:
    arguments = {
        "caller": None,
        "workspace_id": "00000000-0000-0000-0000-000000000000",
        "team_id": None,
        "since": t0 - timedelta(days=WINDOW_DAYS),
        "until": t0,
    }
    with database._pool.connections.connection() as connection:
        row = connection.execute(
            "select md5('rw-0')::uuid, md5('rt-0-0')::uuid, md5('rm-0-0')::uuid"
        ).fetchone()
    assert row is not None
    arguments["workspace_id"] = row[0]
    if team:
        arguments["team_id"] = row[1]

    def call() -> dict[str, Any]:
        return database.call("report", arguments)

    return call


def measure(scale: Scale, quick: bool = False) -> tuple[list[Figure], dict[str, str]]:
    server, _ = dataset.server_url()
    workspaces = workspaces_for(scale)
    began = time.perf_counter()
    big, big_t0 = ensure(server, f"takeover_bench_report_{scale.name}", workspaces)
    big.announce(began, f"{workspaces} workspaces, {big.log_rows:,} log rows")
    began = time.perf_counter()
    small, small_t0 = ensure(server, "takeover_bench_report_small", 1)
    small.announce(began, f"1 workspace, {small.log_rows:,} log rows")
    print("7. pause-report: one workspace in a big log vs alone in a small one", flush=True)
    large_db = one_connection(big.url)
    small_db = one_connection(small.url)
    try:
        subjects = {
            "small": report_caller(small_db, small_t0),
            "big": report_caller(large_db, big_t0),
            "small, team": report_caller(small_db, small_t0, team=True),
            "big, team": report_caller(large_db, big_t0, team=True),
        }
        figures = {name: call() for name, call in subjects.items()}
        if _comparable(figures["big"]) != _comparable(figures["small"]):
            raise SystemExit("the two databases' reports of workspace 0 differ")
        samples = alternate(
            subjects,
            rounds=3 if quick else 8,
            calls_per_round=40,
            seconds_per_round=1.0 if quick else 2.0,
            warm_up_calls=30,
            warm_up_seconds=3.0,
            probes={
                "small": backend_cpu(small_db),
                "big": backend_cpu(large_db),
                "small, team": backend_cpu(small_db),
                "big, team": backend_cpu(large_db),
            },
        )
    finally:
        large_db.close()
        small_db.close()
    in_window = figures["big"]
    rows = (
        in_window["pauses"]
        + in_window["resumes"]["auto"]
        + in_window["resumes"]["force"]
        + in_window["extensions"]
        + in_window["blocked_messages"]
    )
    result: list[Figure] = []
    for suffix, label in (("", ""), ("t", ", one team")):
        subject = samples["big" + (", team" if suffix else "")]
        baseline = samples["small" + (", team" if suffix else "")]
        value, base = subject.percentile_ms(50), baseline.percentile_ms(50)
        details = {
            "rows_in_window": rows,
            "big_p99_ms": round(subject.percentile_ms(99), 3),
            "small_p99_ms": round(baseline.percentile_ms(99), 3),
            "big_calls": subject.calls,
            "small_calls": baseline.calls,
            "big_backend_cpu_us_per_call": subject.backend_cpu_us_per_call,
        }
        result.append(
            Figure(
                key=f"7a{suffix}",
                measurement=f"pause-report p50{label}, {rows:,} rows in 30 days, inside"
                f" {big.log_rows:,} log rows",
                value=value,
                unit="ms",
                baseline=base,
                baseline_label=f"same workspace alone, {small.log_rows:,} log rows",
                target="<= 1.3",
                details=details,
            )
        )
    result.append(
        Figure(
            key="7b",
            measurement=f"pause-report p50, {rows:,} rows in 30 days (absolute)",
            value=result[0].value,
            unit="ms",
            target="< 50",
            target_on="value",
        )
    )
    return result, {"7. pause-report's read of the log (big dataset)": _plan(big.url, big_t0)}


def _comparable(report: Any) -> dict[str, Any]:
    """A report as the two databases must agree on it. Their histories end at their own
    build times, seconds or days apart: the same rows relative to that end, but UTC days
    cut differently, so by_day is compared by its totals."""
    figures = {k: v for k, v in report.items() if k not in {"since", "until", "by_day"}}
    figures["by_day_totals"] = {
        key: sum(day[key] for day in report["by_day"])
        for key in ("pauses", "blocked_messages", "auto_resumes", "force_resumes")
    }
    return figures


def run(bench: Any) -> None:
    """make bench's measurement 7."""
    figures, plans = measure(bench.scale, bench.quick)
    for figure in figures:
        bench.add(figure)
    bench.plans.update(plans)


def main() -> None:
    scale = dataset.scale_from_environment()
    figures, plans = measure(scale, quick_from_environment())
    print()
    print(table(figures))
    for title, plan in plans.items():
        print(f"\n-- {title}\n{plan}")


if __name__ == "__main__":
    main()
