"""The benchmark's databases, built once with set-based SQL and reused while their marker
says they match what this code would build.

- ``takeover_bench_empty``: the migrations and the demo seed, almost nothing else.
- ``takeover_bench_<scale>``: N conversations and L log rows (default 100k and 1M).
- ``takeover_bench_<scale>_nolog``: the same N conversations and no log rows.
- ``takeover_bench_sweep``: 1M conversations; each run pauses 100k of them with a timer
  that has already run out, for the sweep to end.

Every conversation id is ``md5(<database kind>-<i>)::uuid``, so ids are spread like random
uuids. Timed pauses in the datasets end ten years after the build, so a dataset stays valid
(no pause expires, nothing is swept or lazily ended) however often it is reused.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from functions import migrations
from functions.local import demo, embedded

# Bump when what a dataset contains changes: older datasets are then rebuilt.
FORMAT = 3
TEN_YEARS_MINUTES = 10 * 365 * 24 * 60
SWEEP_CONVERSATIONS = 1_000_000
SWEEP_EXPIRED = 100_000
SWEEP_FUTURE_PAUSES = 100_000
LOG_ROWS_PER_CONVERSATION_MAX = 1000

Connection = psycopg.Connection[Any]


@dataclass(frozen=True)
class Scale:
    name: str
    conversations: int
    log_rows: int


SCALES = {
    "default": Scale("default", 100_000, 1_000_000),
    "large": Scale("large", 1_000_000, 10_000_000),
}


def scale_from_environment() -> Scale:
    name = os.environ.get("BENCH_SCALE", "default")
    if name not in SCALES:
        raise SystemExit(f"BENCH_SCALE must be one of {', '.join(SCALES)}, not {name!r}")
    return SCALES[name]


def server_url() -> tuple[str, str]:
    """The Postgres server to build on: DATABASE_URL's, else the embedded one under
    .data/bench; and how it was chosen."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url, "DATABASE_URL"
    return embedded.start("bench"), "embedded (.data/bench)"


def database_url(server: str, name: str) -> str:
    return make_conninfo(server, dbname=name)


def connect(url: str) -> Connection:
    return psycopg.connect(url, autocommit=True)


@dataclass(frozen=True)
class Built:
    name: str
    url: str
    conversations: int
    log_rows: int
    reused: bool
    build_seconds: float

    def announce(self, began: float, what: str) -> None:
        """The line a dataset gets once ready: reused or built, in the seconds since
        `began` (perf_counter), and `what` it holds."""
        how = "reused" if self.reused else "built"
        print(
            f"  dataset {self.name}: {how} in {time.perf_counter() - began:.1f}s ({what})",
            flush=True,
        )


def refresh_functions(url: str) -> bool:
    """Apply pending migrations: a database built before a new migration gets it. (An
    applied migration is never edited; every change is a new one.) False, for a rebuild,
    when the database recorded migrations this checkout no longer has (a squash)."""
    try:
        migrations.apply(url)
    except migrations.UnknownMigrations:
        return False
    return True


def marker_row(url: str, query: str) -> tuple[Any, ...] | None:
    """A built database's marker row; None when the database or its marker is missing."""
    try:
        with connect(url) as connection:
            return connection.execute(query).fetchone()
    except psycopg.Error:
        return None


def _marker(url: str) -> dict[str, Any] | None:
    row = marker_row(url, "select format, conversations, log_rows, build_seconds from bench.marker")
    if row is None:
        return None
    return {
        "format": row[0],
        "conversations": row[1],
        "log_rows": row[2],
        "build_seconds": row[3],
    }


def _log_rows(url: str) -> int:
    with connect(url) as connection:
        row = connection.execute("select count(*) from public.ai_pause_logs").fetchone()
    return int(row[0]) if row else 0


def recreate(server: str, name: str) -> str:
    with connect(server) as admin:
        admin.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = database_url(server, name)
    migrations.apply(url)
    return url


def analyze(connection: psycopg.Connection[Any]) -> None:
    """Fresh statistics for the tables the gate plans against, after a bulk load."""
    connection.execute("vacuum (analyze) public.conversations")
    connection.execute("vacuum (analyze) public.ai_pause_logs")


def database_exists(server: str, name: str) -> bool:
    with connect(server) as admin:
        row = admin.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
    return row is not None


def ensure(
    server: str,
    name: str,
    kind: str,
    conversations: int,
    log_rows: int,
    paused: bool = True,
    drift: int | None = None,
) -> Built:
    """The database `name` holding this dataset: reused when its marker matches (and, with
    `drift`, while the runs have added fewer than 20% + `drift` log rows), else built."""
    url = database_url(server, name)
    if database_exists(server, name):
        marker = _marker(url)
        wanted = (FORMAT, conversations, log_rows)
        if (
            marker is not None
            and ((marker["format"], marker["conversations"], marker["log_rows"]) == wanted)
            and (drift is None or _log_rows(url) <= log_rows * 1.2 + drift)
            and refresh_functions(url)
        ):
            return Built(name, url, conversations, log_rows, True, marker["build_seconds"])
    started = time.perf_counter()
    url = recreate(server, name)
    with connect(url) as connection:
        _build(connection, kind, conversations, log_rows, paused)
        analyze(connection)
        elapsed = time.perf_counter() - started
        connection.execute(
            "insert into bench.marker (format, conversations, log_rows, build_seconds)"
            " values (%s, %s, %s, %s)",
            (FORMAT, conversations, log_rows, elapsed),
        )
    refresh_functions(url)
    return Built(name, url, conversations, log_rows, False, elapsed)


def ensure_empty(server: str) -> Built:
    """Migrations and the demo seed: a handful of conversations, an almost empty log."""
    name = "takeover_bench_empty"
    url = database_url(server, name)
    if database_exists(server, name) and _marker(url) is not None and refresh_functions(url):
        return Built(name, url, 0, 0, True, 0.0)
    started = time.perf_counter()
    url = recreate(server, name)
    demo.seed_if_empty(url)
    with connect(url) as connection:
        _create_marker_table(connection)
        # One demo conversation paused indefinitely: the gate's refusing path.
        connection.execute(
            "update public.conversations set ai_mode = 'paused', paused_at = now() where id = %s",
            (EMPTY_PAUSED_CONVERSATION,),
        )
        elapsed = time.perf_counter() - started
        connection.execute(
            "insert into bench.marker (format, conversations, log_rows, build_seconds)"
            " values (%s, 0, 0, %s)",
            (FORMAT, elapsed),
        )
    refresh_functions(url)
    return Built(name, url, 0, 0, False, elapsed)


# The demo seed's conversations (supabase/seed.sql): the bench gates them in the empty database.
EMPTY_ACTIVE_CONVERSATIONS = (
    "7a1c0000-0000-4000-8000-0000000000c1",
    "7a1c0000-0000-4000-8000-0000000000c2",
    "7a1c0000-0000-4000-8000-0000000000c3",
    "7a1c0000-0000-4000-8000-0000000000c5",
)
EMPTY_PAUSED_CONVERSATION = "7a1c0000-0000-4000-8000-0000000000c4"
EMPTY_ATTENDANT = "7a1c0000-0000-4000-8000-0000000000b1"


def _create_marker_table(connection: Connection) -> None:
    connection.execute(
        "create schema if not exists bench;"
        " create table if not exists bench.marker (format integer, conversations bigint,"
        " log_rows bigint, build_seconds double precision,"
        " built_at timestamptz not null default now())"
    )


def begin_history(connection: Connection, marker: str) -> datetime:
    """In a build's transaction: the marker table `bench.<marker>` (format, rows, t0, build
    seconds), memory for the bulk load's sorts, no wait for the WAL; and the build's time to
    the second, where its history ends."""
    connection.execute(
        sql.SQL(
            "create schema if not exists bench; create table if not exists bench.{}"
            " (format integer, size bigint, t0 timestamptz, build_seconds double precision)"
        ).format(sql.Identifier(marker))
    )
    connection.execute("set local maintenance_work_mem = '256MB'")
    connection.execute("set local work_mem = '256MB'")
    connection.execute("set local synchronous_commit = off")
    row = connection.execute("select date_trunc('second', now())").fetchone()
    assert row is not None
    t0: datetime = row[0]
    return t0


@contextlib.contextmanager
def _bulk(connection: Connection, table: str) -> Iterator[None]:
    """Load `table` without its secondary indexes and foreign keys, then build them again
    from their own definitions (one sort per index, one join per key: far faster than
    maintaining them row by row). The primary key stays."""
    indexes = connection.execute(
        "select i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) from pg_index i"
        " where i.indrelid = %s::regclass and not exists"
        " (select 1 from pg_constraint c where c.conindid = i.indexrelid)",
        (table,),
    ).fetchall()
    keys = connection.execute(
        "select conname, pg_get_constraintdef(oid) from pg_constraint"
        " where conrelid = %s::regclass and contype = 'f'",
        (table,),
    ).fetchall()
    target = sql.SQL(table)
    for name, _ in keys:
        connection.execute(
            sql.SQL("alter table {} drop constraint {}").format(target, sql.Identifier(name))
        )
    for name, _ in indexes:
        connection.execute(sql.SQL("drop index {}").format(sql.SQL(name)))
    yield
    for _, definition in indexes:
        connection.execute(sql.SQL(definition))
    for name, definition in keys:
        connection.execute(
            sql.SQL("alter table {} add constraint {} {}").format(
                target,
                sql.Identifier(name),
                sql.SQL(definition),
            )
        )


def _build(
    connection: Connection, kind: str, conversations: int, log_rows: int, paused: bool
) -> None:
    per_conversation = min(log_rows // conversations, LOG_ROWS_PER_CONVERSATION_MAX)
    workspaces = max(10, conversations // 1000)
    with connection.transaction():
        _create_marker_table(connection)
        connection.execute("set local maintenance_work_mem = '256MB'")
        connection.execute("set local synchronous_commit = off")
        connection.execute("create temporary table build_settings (kind text, t0 timestamptz)")
        connection.execute("insert into build_settings values (%s, now())", (kind,))
        # Workspaces alternate 30 minutes and indefinite defaults; each has a team that
        # inherits, a team with its own 120 minutes, an attendant and an admin.
        connection.execute(
            """
            insert into public.workspaces (id, name, default_duration_minutes)
            select md5('workspace-' || w)::uuid, 'Bench workspace ' || w,
                   case when w %% 2 = 0 then 30 end
            from generate_series(0, %(workspaces)s - 1) w
            """,
            {"workspaces": workspaces},
        )
        connection.execute(
            """
            insert into public.teams (id, workspace_id, name, inherits_default,
                                      default_duration_minutes)
            select md5('team-' || w || '-' || t)::uuid, md5('workspace-' || w)::uuid,
                   'Team ' || t, t = 0, case when t = 1 then 120 end
            from generate_series(0, %(workspaces)s - 1) w, generate_series(0, 1) t
            """,
            {"workspaces": workspaces},
        )
        connection.execute(
            """
            insert into public.workspace_members (workspace_id, user_id, role)
            select md5('workspace-' || w)::uuid, md5('member-' || w || '-' || m)::uuid,
                   case when m = 0 then 'attendant' else 'admin' end
            from generate_series(0, %(workspaces)s - 1) w, generate_series(0, 1) m
            """,
            {"workspaces": workspaces},
        )
        # Conversation i: workspace i % W, team (i / W) % 3 (the third: no team). When
        # `paused`: every 20th has a timed pause (ending in ten years), every 20th + 10
        # an indefinite one; the others are active. Inserted in id order, so the primary
        # key grows at its right edge.
        with _bulk(connection, "public.conversations"):
            connection.execute(
                """
                insert into public.conversations (id, workspace_id, team_id, ai_mode,
                    paused_at, paused_until, paused_by, pause_duration_minutes)
                select id, workspace_id, team_id, ai_mode, paused_at,
                       paused_at + make_interval(mins => duration), paused_by, duration
                from (
                    select md5(b.kind || '-' || i)::uuid as id,
                           md5('workspace-' || (i %% %(w)s))::uuid as workspace_id,
                           case when (i / %(w)s) %% 3 < 2
                                then md5('team-' || (i %% %(w)s) || '-' || (i / %(w)s) %% 3)::uuid
                           end as team_id,
                           case when %(paused)s and i %% 10 = 0 then 'paused'
                                else 'active' end::public.ai_mode as ai_mode,
                           case when %(paused)s and i %% 10 = 0
                                then b.t0 - make_interval(secs => i %% 3600) end as paused_at,
                           case when %(paused)s and i %% 20 = 0
                                then %(ten_years)s + 15 * (1 + i %% 8) end as duration,
                           case when %(paused)s and i %% 10 = 0
                                then md5('member-' || (i %% %(w)s) || '-0')::uuid
                           end as paused_by
                    from build_settings b, generate_series(0, %(n)s - 1) i
                ) c
                order by id
                """,
                {
                    "w": workspaces,
                    "n": conversations,
                    "paused": paused,
                    "ten_years": TEN_YEARS_MINUTES,
                },
            )
        if per_conversation == 0:
            return
        # k rows per conversation, in rounds (round j for every conversation, then j + 1),
        # so a conversation's rows spread over the table as they do in production. A
        # conversation's history cycles pause_activated, interaction_blocked (with a
        # message_id), extend_pause, interaction_blocked, auto_resume or force_resume, and
        # ends in its current mode.
        with _bulk(connection, "public.ai_pause_logs"):
            connection.execute(
                """
                insert into public.ai_pause_logs (conversation_id, action, reason,
                    duration_minutes, triggered_by, previous_ai_mode, new_ai_mode,
                    message_id, created_at)
                select md5(b.kind || '-' || i)::uuid,
                       (array['pause_activated', 'interaction_blocked', 'extend_pause',
                              'interaction_blocked',
                              case when i %% 2 = 0 then 'auto_resume' else 'force_resume' end]
                       )[p + 1]::public.ai_pause_action,
                       case p when 0 then 'bench' when 4 then
                            case when i %% 2 = 0 then 'timer_expired' end end,
                       case p when 0 then 30 when 2 then 15 when 4 then 45 end,
                       case when p in (1, 3) then 'ai_agent'
                            when p = 4 and i %% 2 = 0 then 'system'
                            else md5('member-' || (i %% %(w)s) || '-0')::uuid::text end,
                       (case when p = 0 then 'active' else 'paused' end)::public.ai_mode,
                       (case when p = 4 then 'active' else 'paused' end)::public.ai_mode,
                       case when p in (1, 3) then 'bench-' || i || '-' || j end,
                       b.t0 - make_interval(mins => (%(k)s - j) * 60) + make_interval(
                           secs => i::double precision * 3600 / %(n)s)
                from build_settings b,
                     -- row g: conversation g mod n, round g / n; one series, already in order
                     generate_series(0, %(k)s::bigint * %(n)s - 1) g,
                     lateral (select (g %% %(n)s)::integer as i, (g / %(n)s)::integer as j) r,
                     lateral (select case
                         when %(paused)s and i %% 10 = 0 then (j + 8 - (%(k)s - 1) %% 5) %% 5
                         else (j + 9 - (%(k)s - 1) %% 5) %% 5 end as p) pos
                """,
                {"w": workspaces, "n": conversations, "k": per_conversation, "paused": paused},
            )


def build_sweep_targets(connection: Connection) -> None:
    """The sweep database's extra table: which conversations each run pauses and expires."""
    connection.execute(
        "create table if not exists bench.sweep_targets (i integer primary key, id uuid not null)"
    )
    connection.execute(
        """
        insert into bench.sweep_targets (i, id)
        select i, md5('sweep-' || i)::uuid
        from generate_series(5, %(n)s - 1, %(step)s) i
        on conflict do nothing
        """,
        {"n": SWEEP_CONVERSATIONS, "step": SWEEP_CONVERSATIONS // SWEEP_EXPIRED},
    )
    connection.execute("analyze bench.sweep_targets")


def ensure_sweep(server: str) -> Built:
    """1M conversations, 10% paused with a timer ending in ten years (the sweep's index is
    not empty), no log rows to begin with; bench.sweep_targets lists the 100k each run
    pauses with a timer that has run out."""
    built = ensure(server, "takeover_bench_sweep", "sweep", SWEEP_CONVERSATIONS, 0, paused=True)
    with connect(built.url) as connection:
        build_sweep_targets(connection)
    return built
