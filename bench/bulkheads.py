"""10. Heavy readers against the gate, and a small tenant's log page inside a big log.

Its own database, ``takeover_bench_bulkheads_<scale>``, built once with set-based SQL and
reused while its marker matches:

- the big tenant: 1,000 conversations and the scale's log rows (1M; 10M at large) over the
  last 365 days, pauses of five rows as in measurement 7;
- the small tenant: one conversation with 20 rows spread over the same year, so that its
  rows lie scattered through the big log's primary key;
- the gate's tenant: 1,000 active conversations and no rows.

Rows are inserted in time order, as a shared log is written.

- 10a: the gate's p50 over HTTP (`make run`'s app, werkzeug threaded, in its own process;
  one keep-alive client calling 40 times a second, each call's latency counted from when
  it was due) while 16 clients read 366-day reports of the big tenant, against the same
  gate with nothing else running; the two alternate in rounds. A report client that is
  answered 503 waits its Retry-After, as a client should.
- 10b: the small tenant's log page without conversation_id against the same page with it
  (the same 20 rows), through the database interface on one connection.
- 10c: the big tenant's 366-day report through the database interface, against reading the
  window's rows alone (a count over the workspace's index): what the report costs beyond
  its rows.

    python -m bench.bulkheads      (BENCH_ONLY=10 make bench does the same)
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import psycopg

from bench import dataset
from bench.cases import (
    GATE_PATH,
    Client,
    HttpServer,
    backend_cpu,
    gate_bodies,
    one_connection,
)
from bench.dataset import Built, Scale, connect
from bench.harness import Figure, Recorder, alternate, percentile, quick_from_environment, table
from functions.local import demo
from functions.shared.models import CallOptions

FORMAT = 1
BIG_CONVERSATIONS = 1000
GATE_CONVERSATIONS = 1000
SMALL_PAUSES = 4  # five rows each: the small tenant's 20 rows
HISTORY_DAYS = 365
REPORT_DAYS = 366
REPORT_CLIENTS = 16
# How often the gate is called while it is measured: 40 calls a second.
GATE_INTERVAL = 0.025

BIG = UUID(int=0xB16)
SMALL = UUID(int=0x5)
GATE = UUID(int=0x6A7E)
BIG_MEMBER = UUID(int=0xB16B)
SMALL_MEMBER = UUID(int=0x5B)
SMALL_CONVERSATION = UUID(int=0x5C)


@dataclass
class Standalone(Recorder):
    """What the measurement needs of a Bench, when it runs alone."""

    scale: Scale
    quick: bool
    figures: list[Figure]


def ensure(server: str, scale: Scale) -> tuple[Built, datetime]:
    """The database, reused when its marker matches; its build time t0 (the history ends
    there)."""
    name = f"takeover_bench_bulkheads_{scale.name}"
    url = dataset.database_url(server, name)
    marker = (
        dataset.marker_row(
            url, "select format, size, t0, build_seconds from bench.bulkheads_marker"
        )
        if dataset.database_exists(server, name)
        else None
    )
    if (
        marker is not None
        and marker[:2] == (FORMAT, scale.log_rows)
        and dataset.refresh_functions(url)
    ):
        return Built(name, url, 0, scale.log_rows, True, marker[3]), marker[2]
    started = time.perf_counter()
    url = dataset.recreate(server, name)
    with connect(url) as connection:
        t0 = _build(connection, scale.log_rows)
        dataset.analyze(connection)
        elapsed = time.perf_counter() - started
        connection.execute(
            "insert into bench.bulkheads_marker (format, size, t0, build_seconds)"
            " values (%s, %s, %s, %s)",
            (FORMAT, scale.log_rows, t0, elapsed),
        )
    return Built(name, url, BIG_CONVERSATIONS, scale.log_rows, False, elapsed), t0


def _build(connection: psycopg.Connection[Any], log_rows: int) -> datetime:
    arguments: dict[str, Any] = {
        "big": BIG,
        "small": SMALL,
        "gate": GATE,
        "big_member": BIG_MEMBER,
        "small_member": SMALL_MEMBER,
        "small_conversation": SMALL_CONVERSATION,
        "c": BIG_CONVERSATIONS,
        "g": GATE_CONVERSATIONS,
        "pauses": log_rows // 5,
        "small_pauses": SMALL_PAUSES,
        "days": HISTORY_DAYS,
    }
    with connection.transaction():
        t0 = dataset.begin_history(connection, "bulkheads_marker")
        arguments["t0"] = t0
        for statement in (
            "insert into public.workspaces (id, name) values (%(big)s, 'Big tenant'),"
            " (%(small)s, 'Small tenant'), (%(gate)s, 'Gate tenant')",
            "insert into public.teams (id, workspace_id, name)"
            " select md5('bh-team-' || t)::uuid, %(big)s, 'Team ' || t"
            " from generate_series(0, 1) t",
            "insert into public.workspace_members (workspace_id, user_id, role)"
            " values (%(big)s, %(big_member)s, 'attendant'),"
            " (%(small)s, %(small_member)s, 'attendant')",
            "insert into public.conversations (id, workspace_id, team_id)"
            " select md5('bh-big-' || k)::uuid, %(big)s,"
            " case when k %% 3 < 2 then md5('bh-team-' || k %% 3)::uuid end"
            " from generate_series(0, %(c)s - 1) k"
            " union all select %(small_conversation)s, %(small)s, null"
            " union all select md5('bh-gate-' || k)::uuid, %(gate)s, null"
            " from generate_series(0, %(g)s - 1) k",
        ):
            connection.execute(statement, arguments)
        # Pause n of a tenant: five rows (activated, blocked, extended, blocked, resumed),
        # spread evenly over the year; the small tenant's few pauses among the big one's.
        with dataset._bulk(connection, "public.ai_pause_logs"):
            connection.execute(
                """
                insert into public.ai_pause_logs (conversation_id, workspace_id, action,
                    reason, duration_minutes, triggered_by, previous_ai_mode, new_ai_mode,
                    message_id, created_at)
                select pause.conversation_id, pause.workspace_id,
                       (array['pause_activated', 'interaction_blocked', 'extend_pause',
                              'interaction_blocked',
                              case when pause.n %% 2 = 0 then 'auto_resume'
                                   else 'force_resume' end])[p + 1]::public.ai_pause_action,
                       case when p = 4 and pause.n %% 2 = 0 then 'timer_expired' end,
                       case p when 0 then 30 when 2 then 15 when 4 then 45 end,
                       case when p in (1, 3) then 'ai_agent'
                            when p = 4 and pause.n %% 2 = 0 then 'system'
                            else pause.member::text end,
                       (case when p = 0 then 'active' else 'paused' end)::public.ai_mode,
                       (case when p = 4 then 'active' else 'paused' end)::public.ai_mode,
                       case when p in (1, 3) then pause.tenant || '-' || pause.n || '-' || p end,
                       pause.start + case p
                           when 4 then make_interval(mins => 10 + (pause.n %% 9) * 5)
                           else make_interval(mins => 2 * p) end
                from (
                    select 'big' as tenant, n, md5('bh-big-' || n %% %(c)s)::uuid
                             as conversation_id, %(big)s::uuid as workspace_id,
                           %(big_member)s::uuid as member,
                           %(t0)s::timestamptz - make_interval(days => %(days)s)
                             + make_interval(secs => n * %(days)s * 86400.0 / %(pauses)s)
                             as start
                    from generate_series(0, %(pauses)s - 1) n
                    union all
                    select 'small', n, %(small_conversation)s, %(small)s, %(small_member)s,
                           %(t0)s::timestamptz - make_interval(days => %(days)s)
                             + make_interval(secs => (n + 0.5) * %(days)s * 86400.0
                                             / %(small_pauses)s)
                    from generate_series(0, %(small_pauses)s - 1) n
                ) pause, generate_series(0, 4) p
                order by 10
                """,
                arguments,
            )
    return t0


# ---------------------------------------------------------------------------------------
# 10a. The gate while 16 clients read 366-day reports
# ---------------------------------------------------------------------------------------


# How long a client waits on its socket, in seconds.
TIMEOUT = 120


def report_path(t0: datetime) -> str:
    window = {
        "workspace_id": str(BIG),
        "since": (t0 - timedelta(days=REPORT_DAYS)).isoformat(),
        "until": t0.isoformat(),
    }
    return f"/functions/v1/pause-report?{urlencode(window)}"


class Readers:
    """REPORT_CLIENTS clients reading reports in a loop, each on its own connection,
    until stopped; a 503 makes a client wait its Retry-After."""

    def __init__(self, port: int, token: str, path: str) -> None:
        self.outcomes: Counter[int] = Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._read, args=(port, token, path))
            for _ in range(REPORT_CLIENTS)
        ]
        for thread in self._threads:
            thread.start()

    def _read(self, port: int, token: str, path: str) -> None:
        client = Client(port, token, TIMEOUT)
        try:
            while not self._stop.is_set():
                status, headers = client.send("GET", path)
                with self._lock:
                    self.outcomes[status] += 1
                if status == 503:
                    self._stop.wait(float(headers.get("Retry-After", "1")))
        finally:
            client.close()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def gate_round(client: Client, bodies: Any, seconds: float) -> tuple[list[int], int]:
    """The gate called every GATE_INTERVAL for `seconds` (open loop): each call's latency
    counts from the moment it was due, so a call held up delays the ones due after it and
    they count that wait, as a caller arriving then would. Back-to-back calls would
    measure mostly the moments the gate was fast. Its latencies, and how many were not 200."""
    latencies: list[int] = []
    failed = 0
    interval = int(GATE_INTERVAL * 1e9)
    due = time.perf_counter_ns()
    end = due + int(seconds * 1e9)
    while due < end:
        wait = due - time.perf_counter_ns()
        if wait > 0:
            time.sleep(wait / 1e9)
        status, _ = client.send("POST", GATE_PATH, next(bodies))
        latencies.append(time.perf_counter_ns() - due)
        failed += status != 200
        due += interval
    return latencies, failed


def gate_under_reports(bench: Any, built: Built, t0: datetime) -> Figure:
    print(
        f"10a. gate p50 over HTTP while {REPORT_CLIENTS} clients read {REPORT_DAYS}-day reports"
        f" of a {built.log_rows:,}-row tenant, vs the quiet gate",
        flush=True,
    )
    server = HttpServer(built.url)
    gate = Client(server.port, demo.service_token(server.secret), TIMEOUT)
    reader_token = demo.attendant_token(server.secret, BIG_MEMBER)
    path = report_path(t0)
    quiet: list[int] = []
    stormy: list[int] = []
    failures = {"quiet": 0, "storm": 0}
    outcomes: Counter[int] = Counter()
    storm_seconds = 0.0
    try:
        with connect(built.url) as connection:
            conversations = [
                row[0]
                for row in connection.execute(
                    "select id from public.conversations where workspace_id = %s", (GATE,)
                )
            ]
        bodies = gate_bodies(conversations)
        warm = Client(server.port, reader_token, TIMEOUT)
        status, _ = warm.send("GET", path)
        warm.close()
        if status != 200:
            raise SystemExit(f"pause-report answered {status}")
        gate_round(gate, bodies, bench.seconds(2.0))
        for _ in range(bench.rounds(5)):
            latencies, failed = gate_round(gate, bodies, bench.seconds(6.0))
            quiet += latencies
            failures["quiet"] += failed
            readers = Readers(server.port, reader_token, path)
            began = time.perf_counter()
            try:
                time.sleep(1.0)  # every reader has sent its first request
                latencies, failed = gate_round(gate, bodies, bench.seconds(6.0))
                stormy += latencies
                failures["storm"] += failed
            finally:
                readers.stop()
                storm_seconds += time.perf_counter() - began
                outcomes.update(readers.outcomes)
    finally:
        gate.close()
        server.stop()
    value, base = percentile(stormy, 50) / 1e6, percentile(quiet, 50) / 1e6
    return Figure(
        key="10a",
        measurement=(
            f"gate p50 over HTTP while {REPORT_CLIENTS} clients read {REPORT_DAYS}-day reports"
            f" of a {built.log_rows:,}-row tenant (gate p99 {percentile(stormy, 99) / 1e6:.1f}"
            f" ms, {failures['storm']} gate calls not 200; reports: "
            + ", ".join(f"{count} x {status}" for status, count in sorted(outcomes.items()))
            + f" in {storm_seconds:.0f} s)"
        ),
        value=value,
        unit="ms",
        baseline=base,
        baseline_label=f"the quiet gate, same server, p99 {percentile(quiet, 99) / 1e6:.1f} ms",
        target="<= 5",
        details={
            "gate_calls": {"quiet": len(quiet), "storm": len(stormy)},
            "gate_not_200": failures,
            "reports_by_status": dict(outcomes),
            "storm_seconds": round(storm_seconds, 1),
        },
    )


# ---------------------------------------------------------------------------------------
# 10b. A small tenant's log page, without and with conversation_id
# ---------------------------------------------------------------------------------------


def log_page(bench: Any, built: Built) -> Figure:
    print(
        f"10b. log page of a 20-row tenant inside {built.log_rows:,} rows, without vs with"
        " conversation_id",
        flush=True,
    )
    database = one_connection(built.url)
    try:

        def page(conversation: UUID | None) -> Any:
            arguments = {
                "caller": SMALL_MEMBER,
                "conversation_id": conversation,
                "action": None,
                "since": None,
                "until": None,
                "after_id": None,
                "limit": 100,
            }
            return lambda: database.call("events", arguments)

        subjects = {"workspace": page(None), "conversation": page(SMALL_CONVERSATION)}
        answers = {name: call() for name, call in subjects.items()}
        events = answers["workspace"]["events"]
        if answers["workspace"] != answers["conversation"] or len(events) != 20:
            raise SystemExit("the two pages differ, or do not hold the tenant's 20 rows")
        probe = backend_cpu(database)
        samples = alternate(
            subjects,
            rounds=bench.rounds(8),
            calls_per_round=500,
            seconds_per_round=bench.seconds(1.5),
            warm_up_calls=20,
            warm_up_seconds=bench.seconds(2.0),
            probes={"workspace": probe, "conversation": probe},
        )
    finally:
        database.close()
    subject, baseline = samples["workspace"], samples["conversation"]
    value, base = subject.percentile_ms(50), baseline.percentile_ms(50)
    return Figure(
        key="10b",
        measurement=(
            f"pause-logger GET p50, no conversation_id: a 20-row tenant inside"
            f" {built.log_rows:,} log rows (p99 {subject.percentile_ms(99):.2f} ms)"
        ),
        value=value,
        unit="ms",
        baseline=base,
        baseline_label=(
            f"the same page with conversation_id, p99 {baseline.percentile_ms(99):.2f} ms"
        ),
        target="<= 1.5",
        details={
            "workspace_backend_cpu_us_per_call": subject.backend_cpu_us_per_call,
            "conversation_backend_cpu_us_per_call": baseline.backend_cpu_us_per_call,
        },
    )


# ---------------------------------------------------------------------------------------
# 10c. A 366-day report against reading its rows
# ---------------------------------------------------------------------------------------


def report_cost(bench: Any, built: Built, t0: datetime) -> tuple[Figure, str]:
    print(f"10c. {REPORT_DAYS}-day report of the big tenant vs reading its rows", flush=True)
    since, until = t0 - timedelta(days=REPORT_DAYS), t0
    database = one_connection(built.url)
    count = (
        "select count(*) from public.ai_pause_logs l"
        " where l.workspace_id = %s and l.created_at >= %s and l.created_at < %s"
    )
    try:
        with database._pool.connections.connection() as connection:
            connection.execute("set statement_timeout = 0")
            rows = connection.execute(count, (BIG, since, until)).fetchone()
            plan = "\n".join(
                line
                for (line,) in connection.execute(
                    # Its statements' plans are inside the function; the buffers line adds
                    # them up (shared, and temporary files).
                    "explain (analyze, buffers, costs off, summary off)"
                    " select public.takeover_report(null, %s, null, %s, %s)",
                    (BIG, since, until),
                )
            )
        assert rows is not None

        def report() -> Any:
            return database.call(
                "report",
                {
                    "caller": None,
                    "workspace_id": BIG,
                    "team_id": None,
                    "since": since,
                    "until": until,
                },
                CallOptions(heavy=True),
            )

        def read_rows() -> Any:
            with database._pool.connections.connection() as connection:
                return connection.execute(count, (BIG, since, until)).fetchone()

        samples = alternate(
            {"report": report, "rows": read_rows},
            rounds=bench.rounds(4),
            calls_per_round=5,
            seconds_per_round=bench.seconds(6.0),
            warm_up_calls=2,
            warm_up_seconds=bench.seconds(4.0),
        )
    finally:
        database.close()
    subject, baseline = samples["report"], samples["rows"]
    value, base = subject.percentile_ms(50), baseline.percentile_ms(50)
    figure = Figure(
        key="10c",
        measurement=f"pause-report p50, {REPORT_DAYS} days, {rows[0]:,} rows in the window",
        value=value,
        unit="ms",
        baseline=base,
        baseline_label="counting the window's rows over the workspace's index",
        details={"rows_in_window": rows[0], "report_calls": subject.calls},
    )
    return figure, plan


def measure(bench: Any) -> dict[str, str]:
    server, _ = dataset.server_url()
    began = time.perf_counter()
    built, t0 = ensure(server, bench.scale)
    built.announce(began, f"{built.log_rows:,} log rows")
    bench.add(log_page(bench, built))
    figure, plan = report_cost(bench, built, t0)
    bench.add(figure)
    bench.add(gate_under_reports(bench, built, t0))
    return {f"10c. pause-report over {REPORT_DAYS} days (big tenant)": plan}


def run(bench: Any) -> None:
    """make bench's measurement 10."""
    bench.plans.update(measure(bench))


def main() -> None:
    bench = Standalone(
        scale=dataset.scale_from_environment(),
        quick=quick_from_environment(),
        figures=[],
    )
    plans = measure(bench)
    print()
    print(table(bench.figures))
    for title, plan in plans.items():
        print(f"\n-- {title}\n{plan}")
    print(json.dumps([figure.as_json() for figure in bench.figures], indent=2, default=str))


if __name__ == "__main__":
    main()
