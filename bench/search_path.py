"""What `set search_path = ''`, `security definer` and the one log writer cost the hot paths.

    .venv/bin/python -m bench.search_path [DATABASE_URL of a server] [calls]

Builds two scratch databases on the server (default: the embedded Postgres): *before*, with
the first migration only (helpers in public, no SET clause, the log written inline), and
*after*, with every migration. Into *after* it adds copies of the gate without its SET
clause and security definer (ALTER FUNCTION on a copy, never an edit of its text), so each
cost is measured apart. Every subject runs the same calls on one connection, in alternating
rounds, with synchronous_commit off (so a blocked call's commit does not wait for the
disk)."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import psycopg

from functions import migrations
from functions.local import embedded
from tests.databases import fresh_database

ROUNDS = 5
WORKSPACE = "00000000-0000-4000-8000-00000000b001"
ACTIVE = "00000000-0000-4000-8000-00000000b0a1"
PAUSED = "00000000-0000-4000-8000-00000000b0b1"

SCENE = f"""
insert into public.workspaces (id, name) values ('{WORKSPACE}', 'bench');
insert into public.conversations (id, workspace_id) values
  ('{ACTIVE}', '{WORKSPACE}'), ('{PAUSED}', '{WORKSPACE}');
select public.takeover_activate('{PAUSED}', null, null, false, 'bench', null);
"""


def copy_of(connection: psycopg.Connection[Any], function: str, name: str) -> str:
    """`function` (schema-qualified, one signature) created again as bench.<name>; the copy's
    signature. Only the header Postgres itself writes (pg_get_functiondef's first line) is
    renamed: the body is the function's own, whatever its text."""
    row = connection.execute(
        "select pg_get_functiondef(%s::regproc), %s::regproc::oid::regprocedure::text",
        (function, function),
    ).fetchone()
    assert row is not None
    header, body = row[0].split("\n", 1)
    assert header.startswith(f"CREATE OR REPLACE FUNCTION {function}("), header
    connection.execute(header.replace(function, f"bench.{name}", 1) + "\n" + body)
    signature: str = row[1].replace(function, f"bench.{name}", 1)
    return signature


def variants(connection: psycopg.Connection[Any]) -> None:
    """Copies of the new gate, each without one of the changes, made with ALTER FUNCTION."""
    connection.execute("create schema bench")
    plain = copy_of(connection, "public.takeover_gate", "gate_plain")
    connection.execute(f"alter function {plain} security invoker reset search_path")
    with_set = copy_of(connection, "public.takeover_gate", "gate_set")
    connection.execute(f"alter function {with_set} security invoker")


def rate(
    connection: psycopg.Connection[Any],
    statement: str,
    calls: int,
    args: Callable[[str, int], tuple[Any, ...]],
    tag: str,
) -> float:
    """Calls per second of `calls` calls, each with args(tag, i) (prepared, like the pool)."""
    started = time.perf_counter()
    for i in range(calls):
        connection.execute(statement, args(tag, i), prepare=True).fetchone()
    return calls / (time.perf_counter() - started)


def compare(
    title: str,
    subjects: dict[str, tuple[psycopg.Connection[Any], str]],
    calls: int,
    args: Callable[[str, int], tuple[Any, ...]],
) -> dict[str, float]:
    rates: dict[str, list[float]] = {name: [] for name in subjects}
    per_round = calls // ROUNDS
    for name, (connection, statement) in subjects.items():  # warm up
        rate(connection, statement, 200, args, f"warm-{name}")
    for round_ in range(ROUNDS):
        for name, (connection, statement) in subjects.items():
            rates[name].append(rate(connection, statement, per_round, args, f"{name}-{round_}"))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    first = next(iter(medians.values()))
    print(f"\n{title} ({calls} calls each, median of {ROUNDS} rounds)")
    for name, value in medians.items():
        print(f"  {name:<42} {value:9.0f} calls/s   {value / first:5.2f}x")
    return medians


def main() -> None:
    server = sys.argv[1] if len(sys.argv) > 1 else embedded.start("bench")
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
    run = uuid4().hex[:8]
    with psycopg.connect(server, autocommit=True) as admin:
        version = admin.execute("show server_version").fetchone()
    with (
        fresh_database(server, "bench_sp_before") as before_url,
        fresh_database(server, "bench_sp_after") as after_url,
    ):
        with psycopg.connect(before_url, autocommit=True) as connection:
            connection.execute(migrations.SHIM.read_text())
            first = sorted(migrations.MIGRATIONS.glob("*.sql"))[0]
            connection.execute(first.read_text())
            connection.execute(SCENE)
        migrations.apply(after_url)
        with psycopg.connect(after_url, autocommit=True) as connection:
            connection.execute(SCENE)
            variants(connection)
        print(f"Postgres {version[0] if version else '?'}")
        with (
            psycopg.connect(before_url, autocommit=True) as before,
            psycopg.connect(after_url, autocommit=True) as after,
        ):
            for connection in (before, after):
                # The function's own cost, not the disk's: no wait for the WAL flush.
                connection.execute("set synchronous_commit = off")
            gate = "select public.takeover_gate(%s, %s, 'ai_agent')::text"
            plain = "select bench.gate_plain(%s, %s, 'ai_agent')::text"
            compare(
                "gate, active conversation",
                {
                    "before (no SET, invoker)": (before, gate),
                    "after (SET search_path, security definer)": (after, gate),
                    "after's gate without SET/definer": (after, plain),
                    "after's gate with SET, invoker": (
                        after,
                        "select bench.gate_set(%s, %s, 'ai_agent')::text",
                    ),
                },
                calls,
                lambda tag, i: (ACTIVE, f"m-{run}-{tag}-{i}"),
            )
            compare(
                "gate, paused conversation (a new message each call: one log row each)",
                {
                    "before (no SET, invoker, inline insert)": (before, gate),
                    "after (SET, definer, log_blocked_message -> log_event)": (after, gate),
                    "after's gate without SET/definer": (after, plain),
                },
                calls,
                lambda tag, i: (PAUSED, f"m-{run}-{tag}-{i}"),
            )
            sweep_calls(before, after, 2_000)


def sweep_calls(
    before: psycopg.Connection[Any], after: psycopg.Connection[Any], pauses: int
) -> None:
    """One sweep of `pauses` expired pauses, before and after, alternating (the rows are
    re-expired before each sweep, outside the timing)."""
    expire = (
        "insert into public.conversations"
        " (workspace_id, ai_mode, paused_at, paused_until, pause_duration_minutes)"
        f" select '{WORKSPACE}', 'paused', now() - interval '31 minutes',"
        " now() - interval '1 minute', 30 from generate_series(1, %s)"
    )
    subjects = {
        "before (set-based insert, no SET)": (before, "select public.takeover_sweep(%s)::text"),
        "after (set-based insert, SET, definer)": (after, "select public.takeover_sweep(%s)::text"),
    }
    seconds: dict[str, list[float]] = {name: [] for name in subjects}
    for _ in range(ROUNDS):
        for name, (connection, statement) in subjects.items():
            connection.execute(expire, (pauses,))
            connection.execute("vacuum analyze public.conversations")
            started = time.perf_counter()
            row = connection.execute(statement, (pauses,)).fetchone()
            seconds[name].append(time.perf_counter() - started)
            assert row is not None, name
            assert f'"resumed": {pauses}' in row[0], row
    first = statistics.median(next(iter(seconds.values())))
    print(f"\nsweep of {pauses} expired pauses (median of {ROUNDS} sweeps)")
    for name, values in seconds.items():
        value = statistics.median(values)
        rows = pauses / value
        print(f"  {name:<42} {value * 1000:9.1f} ms {rows:9.0f} rows/s {value / first:5.2f}x time")


if __name__ == "__main__":
    main()
