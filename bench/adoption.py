"""What installing Takeover onto a large inbox costs, and what the pause columns' trigger
costs the lifecycle (docs/inbox-integration.md).

    .venv/bin/python -m bench.adoption [DATABASE_URL of a server] [conversations]

(conversations 0: the trigger's part alone.)

1. The install. A scratch database holds an inbox's four tables with columns of their own,
   `conversations` with N rows (default 1,000,000), and is copied twice. On the first copy,
   Takeover's migrations are applied and timed. On the second, the four indexes the guide
   lists are built concurrently first (timed apart: they block nobody), then the migrations
   are applied. The core migration's time is how long the adopted tables stay locked.
2. The trigger. On a migrated database, one connection activates 2,000 conversations and
   resumes them (one statement each, so round trips do not hide the functions' own cost)
   and sweeps 5,000 expired pauses, with the trigger enabled and disabled in turn
   (alternating rounds, median of 5), synchronous_commit off. Reported per call: the
   backend's CPU time (from /proc, when the server is local: what other processes' load
   changes least) and the wall-clock time.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from bench.harness import BackendCpu
from functions import migrations
from functions.local import embedded
from tests.databases import fresh_database

ROUNDS = 5
TRIGGER = "conversations_pause_columns_protected"
WORKSPACE = "00000000-0000-4000-8000-00000000ad01"
PAIRS = 2000  # conversations activated, then resumed, per round
SWEPT = 5000  # expired pauses swept per round

INBOX = """
create table public.workspaces (id uuid primary key, name text not null);
create table public.teams (
  id uuid primary key, workspace_id uuid not null references public.workspaces (id),
  name text not null);
create table public.workspace_members (
  workspace_id uuid not null references public.workspaces (id), user_id uuid not null,
  role text not null, primary key (workspace_id, user_id));
create table public.conversations (
  id uuid primary key, workspace_id uuid not null references public.workspaces (id),
  team_id uuid references public.teams (id), assignee_id uuid, subject text not null,
  status text not null default 'open', created_at timestamptz not null default now());
insert into public.workspaces
  select md5(w::text)::uuid, 'workspace ' || w from generate_series(1, 1000) w;
insert into public.teams
  select md5('t' || t)::uuid, md5((t % 1000 + 1)::text)::uuid, 'team ' || t
  from generate_series(1, 3000) t;
insert into public.workspace_members
  select md5((m % 1000 + 1)::text)::uuid, md5('u' || m)::uuid, 'attendant'
  from generate_series(1, 10000) m;
insert into public.conversations (id, workspace_id, team_id, assignee_id, subject)
  select md5('c' || c)::uuid, md5((c % 1000 + 1)::text)::uuid,
         case when c % 4 > 0 then md5('t' || (c % 3000 + 1))::uuid end,
         md5('u' || (c % 10000 + 1))::uuid, 'Conversation number ' || c
  from generate_series(1, %(conversations)s) c;
"""

# The guide's "build them beforehand" statements.
CONCURRENT_INDEXES = [
    "create index concurrently if not exists teams_workspace_id_idx on public.teams (workspace_id)",
    "create index concurrently if not exists workspace_members_user_id_idx"
    " on public.workspace_members (user_id)",
    "create index concurrently if not exists conversations_workspace_id_idx"
    " on public.conversations (workspace_id)",
    "create index concurrently if not exists conversations_team_id_idx"
    " on public.conversations (team_id)",
]


def timed_migrations(url: str) -> dict[str, float]:
    """Each migration's seconds, applied one by one the way the runner applies them."""
    seconds: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(migrations.SHIM.read_text())
    for path in sorted(migrations.MIGRATIONS.glob("*.sql")):
        with psycopg.connect(url) as connection:
            started = time.perf_counter()
            connection.execute(path.read_text())
            connection.commit()
            seconds[path.stem] = time.perf_counter() - started
    return seconds


def install(server: str, conversations: int) -> None:
    with fresh_database(server, "bench_adoption_inbox") as url:
        inbox = str(conninfo_to_dict(url)["dbname"])
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(INBOX.replace("%(conversations)s", str(conversations)))
            connection.execute("vacuum analyze")
        print(
            f"inbox built: {conversations:,} conversations, {time.perf_counter() - started:.1f} s"
        )
        with fresh_database(server, "bench_adoption_plain", inbox) as plain:
            print_migrations("as it is", timed_migrations(plain))
        with fresh_database(server, "bench_adoption_prepared", inbox) as prepared:
            started = time.perf_counter()
            with psycopg.connect(prepared, autocommit=True) as connection:
                for statement in CONCURRENT_INDEXES:
                    connection.execute(statement)
            print(
                f"\nthe four indexes built concurrently beforehand:"
                f" {time.perf_counter() - started:.1f} s (reads and writes go on)"
            )
            print_migrations("with the indexes built beforehand", timed_migrations(prepared))


def print_migrations(title: str, seconds: dict[str, float]) -> None:
    print(f"\nmigrations on the inbox, {title}:")
    for name, value in seconds.items():
        print(f"  {name:<50} {value:7.2f} s")


def trigger(server: str) -> None:
    with fresh_database(server, "bench_adoption_trigger") as url:
        migrations.apply(url)
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("set synchronous_commit = off")
            row = connection.execute("select pg_backend_pid()").fetchone()
            assert row is not None
            cpu = BackendCpu(row[0])
            connection.execute(
                "insert into public.workspaces (id, name) values (%s, 'bench')", (WORKSPACE,)
            )
            connection.execute(
                "insert into public.conversations (workspace_id)"
                " select %s from generate_series(1, %s)",
                (WORKSPACE, SWEPT),
            )

            def pairs() -> None:
                # Each call in one statement: the functions' own cost, not the round trips'.
                for statement in (
                    "select count(public.takeover_activate(id, null, 30, false, 'b', null))",
                    "select count(public.takeover_resume(id, null, 'b', null))",
                ):
                    connection.execute(
                        f"{statement} from (select id from public.conversations"
                        " order by id limit %s) first",
                        (PAIRS,),
                    )

            def expire() -> None:
                connection.execute(
                    "update public.conversations set ai_mode = 'paused',"
                    " paused_at = now() - interval '31 minutes',"
                    " paused_until = now() - interval '1 minute', pause_duration_minutes = 30"
                )

            def sweep() -> None:
                connection.execute("select public.takeover_sweep(%s)", (SWEPT,))

            compare(
                connection, cpu, f"{PAIRS:,} activates then {PAIRS:,} resumes", pairs, 2 * PAIRS
            )
            compare(connection, cpu, f"the sweep of {SWEPT:,} expired pauses", sweep, SWEPT, expire)


def compare(
    connection: psycopg.Connection[Any],
    cpu: BackendCpu,
    title: str,
    run: Callable[[], None],
    calls: int,
    prepare: Callable[[], None] = lambda: None,
) -> None:
    """`run` with the trigger enabled and disabled, in alternating rounds: the backend's CPU
    time and the wall-clock time per call (the CPU time is what others' load changes least)."""
    samples: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for round_number in range(ROUNDS + 1):
        for enabled in (True, False) if round_number % 2 else (False, True):
            connection.execute(
                sql.SQL("alter table public.conversations {} trigger {}").format(
                    sql.SQL("enable" if enabled else "disable"), sql.Identifier(TRIGGER)
                )
            )
            prepare()
            cpu_before, started = cpu(), time.perf_counter()
            run()
            elapsed, cpu_after = time.perf_counter() - started, cpu()
            if round_number and cpu_before is not None and cpu_after is not None:
                samples[enabled].append(((cpu_after - cpu_before) / calls, elapsed / calls))
    connection.execute(
        sql.SQL("alter table public.conversations enable trigger {}").format(
            sql.Identifier(TRIGGER)
        )
    )
    print(f"\n{title} (median of {ROUNDS} rounds; microseconds per call)")
    medians = {
        enabled: tuple(
            statistics.median(sample[i] for sample in samples[enabled]) * 1e6 for i in (0, 1)
        )
        for enabled in (False, True)
    }
    for enabled, label in ((False, "without the trigger"), (True, "with the trigger")):
        backend, wall = medians[enabled]
        print(
            f"  {label:<20} backend CPU {backend:7.1f}   wall {wall:7.1f}"
            f"   CPU ratio {backend / medians[False][0]:5.2f}x"
        )


def main() -> None:
    server = sys.argv[1] if len(sys.argv) > 1 else embedded.start("bench")
    conversations = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    with psycopg.connect(server) as admin:
        version = admin.execute("show server_version").fetchone()
    print(f"Postgres {version[0] if version else '?'}")
    if conversations:
        install(server, conversations)
    trigger(server)


if __name__ == "__main__":
    main()
