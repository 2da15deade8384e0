"""The measurements. Each warms up, alternates its subject with a baseline measured in the
same run, and adds figures (a ratio, with the absolute numbers beside it) to the report."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID, uuid4

from bench import naive
from bench.dataset import (
    EMPTY_ACTIVE_CONVERSATIONS,
    EMPTY_PAUSED_CONVERSATION,
    SWEEP_EXPIRED,
    Built,
    Scale,
    connect,
)
from bench.harness import (
    BackendCpu,
    Figure,
    ProcessesCpu,
    Recorder,
    Sample,
    alternate,
    own_cpu,
    percentile,
    published_port,
    run_calls,
    stop_helper,
)
from functions.database.postgres import PostgresDatabase
from functions.local import demo
from functions.shared.config import LOCAL_JWT_SECRET

RUN = uuid4().hex[:8]
_messages = itertools.count()


def message_id() -> str:
    """A message the gate has never seen."""
    return f"bench-{RUN}-{next(_messages)}"


@dataclass
class Bench(Recorder):
    scale: Scale
    main: Built
    nolog: Built
    more: Built | None
    empty: Built
    sweep: Built
    quick: bool
    figures: list[Figure] = field(default_factory=list)
    plans: dict[str, str] = field(default_factory=dict)


def one_connection(url: str, *, durable: bool = False) -> PostgresDatabase:
    """The database interface on exactly one connection, opened now. Unless `durable`,
    its commits do not wait for the WAL to reach the disk (synchronous_commit off): on this
    shared virtual disk that flush varies with everyone else's I/O (up to milliseconds), and
    it is the same one flush for every design compared; figure 1c measures it."""
    database = PostgresDatabase(url, min_size=1, max_size=1)
    with database._pool.connections.connection() as connection:
        connection.execute(f"set synchronous_commit = {'on' if durable else 'off'}")
    database.ping()
    return database


def backend_cpu(database: PostgresDatabase) -> BackendCpu:
    """The CPU time probe of the one connection's backend."""
    with database._pool.connections.connection() as connection:
        row = connection.execute("select pg_backend_pid()").fetchone()
    assert row is not None
    return BackendCpu(int(row[0]))


def sample_conversations(url: str, mode: str, limit: int) -> list[tuple[UUID, UUID]]:
    """Up to `limit` conversations in `mode` (`active`, or `indefinite`: paused with no
    timer), at random, each with an attendant of its workspace."""
    condition = (
        "c.ai_mode = 'active'"
        if mode == "active"
        else "c.ai_mode = 'paused' and c.paused_until is null"
    )
    with connect(url) as connection:
        rows = connection.execute(
            "select c.id, m.user_id from public.conversations c"
            " join lateral (select m.user_id from public.workspace_members m"
            "   where m.workspace_id = c.workspace_id order by m.role desc limit 1) m on true"
            f" where {condition} order by random() limit %s",
            (limit,),
        ).fetchall()
    return [(row[0], row[1]) for row in rows]


def gate_caller(
    database: PostgresDatabase, conversations: list[UUID]
) -> Callable[[], dict[str, Any]]:
    cycle = itertools.cycle(conversations)

    def call() -> dict[str, Any]:
        return database.call(
            "gate",
            {"conversation_id": next(cycle), "message_id": message_id(), "agent_id": "ai_agent"},
        )

    return call


def expect(call: Callable[[], dict[str, Any]], allowed: bool) -> None:
    answer = call()
    if answer.get("allowed") is not allowed:
        raise SystemExit(f"unexpected gate answer {answer!r}, expected allowed={allowed}")


# ---------------------------------------------------------------------------------------
# 1. The gate through the database interface, against `select 1` on the same connection
# ---------------------------------------------------------------------------------------


def gate_vs_select_one(bench: Bench) -> None:
    print("1. gate through PostgresDatabase (one connection) vs select 1", flush=True)
    active = [c for c, _ in sample_conversations(bench.main.url, "active", 5000)]
    paused = [c for c, _ in sample_conversations(bench.main.url, "indefinite", 1000)]
    database = one_connection(bench.main.url)
    durable = one_connection(bench.main.url, durable=True)
    try:
        gate_active = gate_caller(database, active)
        gate_paused = gate_caller(database, paused)
        expect(gate_active, True)
        expect(gate_paused, False)
        probe, durable_probe = backend_cpu(database), backend_cpu(durable)
        pool = database._pool.connections

        def select_one_plain() -> None:
            # `select 1` as psycopg is usually called: connection.execute, a new cursor.
            with pool.connection() as connection:
                connection.execute("select 1")

        samples = alternate(
            {
                "select 1": database.ping,
                "select 1 plain": select_one_plain,
                "gate": gate_active,
                "gate paused": gate_paused,
                "gate paused durable": gate_caller(durable, paused),
            },
            rounds=bench.rounds(15),
            calls_per_round=2000,
            seconds_per_round=bench.seconds(0.5),
            # One pass over the sample first: the dataset's pages are read into the cache.
            warm_up_calls=len(active),
            warm_up_seconds=bench.seconds(4.0),
            probes={
                "select 1": probe,
                "select 1 plain": probe,
                "gate": probe,
                "gate paused": probe,
                "gate paused durable": durable_probe,
            },
        )
    finally:
        database.close()
        durable.close()
    baseline = samples["select 1"]
    for key, name, label, target in (
        ("1a", "gate", "gate, active conversation (reads)", ">= 0.6"),
        ("1b", "gate paused", "gate, paused conversation (writes its log row)", ""),
    ):
        subject = samples[name]
        bench.add(
            Figure(
                key=key,
                measurement=f"{label}, PostgresDatabase on 1 connection",
                value=subject.rate,
                unit="calls/s",
                baseline=baseline.rate,
                baseline_label="select 1 via PostgresDatabase.ping, same connection",
                target=target,
                details=_latency_details(subject) | {"baseline": _latency_details(baseline)},
            )
        )
    plain = samples["select 1 plain"]
    bench.add(
        Figure(
            key="1a'",
            measurement="gate, active conversation, against `select 1` run the usual way",
            value=samples["gate"].rate,
            unit="calls/s",
            baseline=plain.rate,
            baseline_label=(
                "select 1 via connection.execute (a new cursor per call, as ping did before),"
                " same connection"
            ),
            details={"baseline": _latency_details(plain)},
        )
    )
    subject, base = samples["gate paused durable"], samples["gate paused"]
    bench.add(
        Figure(
            key="1c",
            measurement=(
                "gate, paused conversation, commit waits for the WAL flush"
                f" (synchronous_commit on), p50 {subject.percentile_ms(50):.2f} ms"
            ),
            value=subject.rate,
            unit="calls/s",
            baseline=base.rate,
            baseline_label=(
                f"same, synchronous_commit off (as every other write figure),"
                f" p50 {base.percentile_ms(50):.2f} ms"
            ),
            details=_latency_details(subject) | {"baseline": _latency_details(base)},
        )
    )


def _latency_details(sample: Sample) -> dict[str, Any]:
    cpu = sample.backend_cpu_us_per_call
    return {
        "calls": sample.calls,
        "rate_per_round": [round(rate, 1) for rate in sample.rates],
        "p50_ms": round(sample.percentile_ms(50), 4),
        "p99_ms": round(sample.percentile_ms(99), 4),
        "backend_cpu_us_per_call": None if cpu is None else round(cpu, 1),
    }


# ---------------------------------------------------------------------------------------
# 2. Gate latency on the dataset against an almost empty database, and the query plans
# ---------------------------------------------------------------------------------------

# takeover_gate's statements, as it runs them (keep in step with the migration).
GATE_READ = """select c.ai_mode, c.paused_until, l.id
from public.conversations c
left join public.ai_pause_logs l on l.conversation_id = c.id and l.message_id = %(message_id)s
where c.id = %(conversation_id)s"""
GATE_LOCK = "select * from public.conversations c where c.id = %(conversation_id)s for update"
GATE_BLOCK = """insert into public.ai_pause_logs
  (conversation_id, action, reason, duration_minutes, triggered_by, previous_ai_mode,
   new_ai_mode, message_id)
values (%(conversation_id)s, 'interaction_blocked', null, null, 'ai_agent', 'paused', 'paused',
        %(message_id)s)
on conflict (conversation_id, message_id) where message_id is not null do nothing
returning id"""


def gate_latency(bench: Bench) -> None:
    print("2. gate latency: dataset vs almost empty database", flush=True)
    active = [c for c, _ in sample_conversations(bench.main.url, "active", 20000)]
    paused = [c for c, _ in sample_conversations(bench.main.url, "indefinite", 1000)]
    empty_active = [UUID(c) for c in EMPTY_ACTIVE_CONVERSATIONS]
    empty_paused = [UUID(EMPTY_PAUSED_CONVERSATION)]
    large = one_connection(bench.main.url)
    small = one_connection(bench.empty.url)
    try:
        subjects = {
            "empty active": gate_caller(small, empty_active),
            "dataset active": gate_caller(large, active),
            "empty paused": gate_caller(small, empty_paused),
            "dataset paused": gate_caller(large, paused),
        }
        for name, call in subjects.items():
            expect(call, "active" in name)
        samples = alternate(
            subjects,
            rounds=bench.rounds(12),
            calls_per_round=600,
            seconds_per_round=bench.seconds(0.5),
            warm_up_calls=len(active),
            warm_up_seconds=bench.seconds(4.0),
            probes={
                "empty active": backend_cpu(small),
                "empty paused": backend_cpu(small),
                "dataset active": backend_cpu(large),
                "dataset paused": backend_cpu(large),
            },
        )
    finally:
        large.close()
        small.close()
    dataset = f"{bench.main.conversations:,} conversations, {bench.main.log_rows:,} log rows"
    for mode, key in (("active", "2a"), ("paused", "2b")):
        subject, baseline = samples[f"dataset {mode}"], samples[f"empty {mode}"]
        for q, suffix in ((50, ""), (99, "'")):
            value, base = subject.percentile_ms(q), baseline.percentile_ms(q)
            bench.add(
                Figure(
                    key=f"{key}{suffix}",
                    measurement=f"gate p{q} latency, {mode} conversation, on {dataset}",
                    value=value,
                    unit="ms",
                    baseline=base,
                    baseline_label="almost empty database (demo seed)",
                    target="<= 1.2",
                    details={
                        "dataset": _latency_details(subject),
                        "empty": _latency_details(baseline),
                    },
                )
            )
    bench.plans.update(gate_plans(bench.main.url, active[0], paused[0]))


def gate_plans(url: str, active: UUID, paused: UUID) -> dict[str, str]:
    """EXPLAIN ANALYZE of the gate's statements on the dataset (the writes rolled back)."""
    plans: dict[str, str] = {}
    explain = "explain (analyze, buffers, costs off, summary on) "
    with connect(url) as connection:
        arguments = {"conversation_id": active, "message_id": message_id()}
        for _ in range(6):  # past plpgsql's first custom plans
            connection.execute("select public.takeover_gate(%s, null, 'ai_agent')", (active,))
        plans["select takeover_gate(...) (active)"] = _plan(
            connection,
            explain + "select public.takeover_gate(%(conversation_id)s, %(message_id)s,"
            " 'ai_agent')",
            arguments,
        )
        plans["gate: read the state and a refusal of this message"] = _plan(
            connection, explain + GATE_READ, arguments
        )
        blocked = {"conversation_id": paused, "message_id": message_id()}
        with connection.transaction(force_rollback=True):
            plans["gate, paused: lock the conversation"] = _plan(
                connection, explain + GATE_LOCK, blocked
            )
            plans["gate, paused: write interaction_blocked"] = _plan(
                connection, explain + GATE_BLOCK, blocked
            )
    return plans


def _plan(connection: Any, statement: str, arguments: dict[str, Any]) -> str:
    rows = connection.execute(statement, arguments).fetchall()
    return "\n".join(str(row[0]) for row in rows)


# ---------------------------------------------------------------------------------------
# 3. Over HTTP against a no-op route; and against a naive two-round-trip gate
# ---------------------------------------------------------------------------------------

CLIENT_THREADS = 8


class HttpServer:
    """bench.http_server in a subprocess, on the given database."""

    def __init__(self, url: str, environment_overrides: dict[str, str] | None = None) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="takeover-bench-")
        directory = Path(self._directory.name)
        port_file = directory / "port"
        self.log = directory / "server.log"
        environment = dict(os.environ)
        environment.setdefault("SUPABASE_JWT_SECRET", LOCAL_JWT_SECRET)
        environment.pop("SUPABASE_JWKS_URL", None)
        environment.update(environment_overrides or {})
        self.secret = environment["SUPABASE_JWT_SECRET"]
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "bench.http_server", url, str(port_file)],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                cwd=Path(__file__).resolve().parent.parent,
            )
        self.pid = self._process.pid
        port = published_port(self._process, port_file, 60)
        if port is None:
            self.stop()
            raise SystemExit(f"the HTTP server did not start:\n{self.log.read_text()}")
        self.port = port

    def stop(self) -> None:
        stop_helper(self._process)
        self._directory.cleanup()


class Client:
    """One keep-alive connection (http.client, standard library)."""

    def __init__(self, port: int, token: str, timeout: float = 30) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self._connection.request("POST", path, body=body, headers=self._headers)
        response = self._connection.getresponse()
        return response.status, response.read()

    def send(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, str]]:
        """The status and the headers (the body is read, to keep the connection)."""
        self._connection.request(method, path, body=body, headers=self._headers)
        response = self._connection.getresponse()
        response.read()
        return response.status, dict(response.getheaders())

    def close(self) -> None:
        self._connection.close()


@dataclass
class Phase:
    requests: int
    seconds: float
    errors: int
    latencies_ns: list[int]
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by process group


def load(
    clients: list[Client],
    path: str,
    bodies: Iterator[bytes],
    seconds: float,
    max_requests: int = 200_000,
) -> Phase:
    """Every client posts to `path` in its own thread until `seconds` have passed."""
    lock = threading.Lock()
    latencies: list[int] = []
    counts = {"requests": 0, "errors": 0}
    deadline = time.perf_counter() + seconds
    per_client = max_requests // len(clients)

    def work(client: Client) -> None:
        mine: list[int] = []
        errors = 0
        clock = time.perf_counter_ns
        for _ in range(per_client):
            with lock:
                body = next(bodies)
            before = clock()
            status, _ = client.post(path, body)
            mine.append(clock() - before)
            if status != 200:
                errors += 1
            if time.perf_counter() >= deadline:
                break
        with lock:
            latencies.extend(mine)
            counts["requests"] += len(mine)
            counts["errors"] += errors

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Phase(counts["requests"], time.perf_counter() - started, counts["errors"], latencies)


GATE_PATH = "/functions/v1/interaction-gate"


def gate_bodies(conversations: list[UUID]) -> Iterator[bytes]:
    """interaction-gate bodies: the next conversation, a new message."""
    cycle = itertools.cycle(conversations)
    while True:
        yield json.dumps({"conversation_id": str(next(cycle)), "message_id": message_id()}).encode()


def http_rounds(
    bench: Bench,
    targets: dict[str, tuple[list[Client], str]],
    bodies: Iterator[bytes],
    cpu: Callable[[], dict[str, Callable[[], float | None]]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Load each target (clients, path) in turn, after a warm-up: rate (median of the
    rounds), latency percentiles, errors; and, with `cpu` (probes by process group, made
    after the warm-up), the CPU milliseconds each group spent per request."""
    for clients, path in targets.values():
        load(clients, path, bodies, bench.seconds(1.5))
    probes = cpu() if cpu else {}
    phases: dict[str, list[Phase]] = {name: [] for name in targets}
    for _ in range(bench.rounds(7)):
        for name, (clients, path) in targets.items():
            before = {group: probe() for group, probe in probes.items()}
            phase = load(clients, path, bodies, bench.seconds(1.5))
            for group, probe in probes.items():
                start, end = before[group], probe()
                if start is not None and end is not None:
                    phase.cpu[group] = end - start
            phases[name].append(phase)
    summaries: dict[str, dict[str, Any]] = {}
    for name, done in phases.items():
        rates = [phase.requests / phase.seconds for phase in done]
        latencies = [ns for phase in done for ns in phase.latencies_ns]
        requests = sum(phase.requests for phase in done)
        summaries[name] = {
            "rate": sorted(rates)[len(rates) // 2],
            "rate_per_round": [round(rate, 1) for rate in rates],
            "requests": requests,
            "errors": sum(phase.errors for phase in done),
            "p50_ms": round(percentile(latencies, 50) / 1e6, 3),
            "p99_ms": round(percentile(latencies, 99) / 1e6, 3),
            "cpu_ms_per_request": {
                group: round(sum(phase.cpu.get(group, 0.0) for phase in done) / requests * 1e3, 3)
                for group in probes
            },
        }
        if summaries[name]["errors"]:
            raise SystemExit(f"HTTP errors in {name}: {summaries[name]}")
    return summaries


def backends(url: str) -> list[int]:
    """The pids of the client backends connected to `url`'s database, but this one's."""
    with connect(url) as connection:
        rows = connection.execute(
            "select pid from pg_stat_activity where datname = current_database()"
            " and backend_type = 'client backend' and pid <> pg_backend_pid()"
        ).fetchall()
    return [int(row[0]) for row in rows]


def check_gate(client: Client, bodies: Iterator[bytes]) -> None:
    status, answer = client.post(GATE_PATH, next(bodies))
    if status != 200 or json.loads(answer)["allowed"] is not True:
        raise SystemExit(f"interaction-gate answered {status}: {answer!r}")


class Served(Protocol):
    """A server process under measurement: HttpServer, or production's Gunicorn."""

    port: int

    def stop(self) -> None: ...


def gate_and_noop_over_http(
    bench: Bench,
    server: Served,
    token: str,
    noop_path: str,
    server_cpu: Callable[[], Callable[[], float | None]],
    *,
    key: str,
    measurement: str,
    baseline_label: str,
    target: str,
) -> Figure:
    """The gate against a no-op route, both served by `server` (stopped at the end) and
    loaded in alternated rounds by CLIENT_THREADS keep-alive clients: requests per second,
    with each side's latencies and the CPU it spent per request beside the words given."""
    clients: list[Client] = []
    try:
        active = [c for c, _ in sample_conversations(bench.main.url, "active", 20000)]
        clients = [Client(server.port, token) for _ in range(CLIENT_THREADS)]
        bodies = gate_bodies(active)
        check_gate(clients[0], bodies)

        def cpu() -> dict[str, Callable[[], float | None]]:
            return {
                "server": server_cpu(),
                "postgres": ProcessesCpu(backends(bench.main.url)),
                "client": own_cpu,
            }

        summaries = http_rounds(
            bench, {"noop": (clients, noop_path), "gate": (clients, GATE_PATH)}, bodies, cpu
        )
    finally:
        for client in clients:
            client.close()
        server.stop()
    gate, noop = summaries["gate"], summaries["noop"]
    spent, idle = gate["cpu_ms_per_request"], noop["cpu_ms_per_request"]
    cpu_note = (
        f"; CPU ms per request: server {spent['server']} (no-op {idle['server']}),"
        f" Postgres {spent['postgres']}, clients {spent['client']} (no-op {idle['client']})"
        if {"server", "postgres", "client"} <= spent.keys()
        else ""
    )
    return Figure(
        key=key,
        measurement=(f"{measurement}, p50 {gate['p50_ms']} ms, p99 {gate['p99_ms']} ms{cpu_note}"),
        value=gate["rate"],
        unit="req/s",
        baseline=noop["rate"],
        baseline_label=f"{baseline_label}, p50 {noop['p50_ms']} ms, p99 {noop['p99_ms']} ms",
        target=target,
        details={"gate": gate, "noop": noop},
    )


def gate_over_http(bench: Bench) -> None:
    print(f"3a. gate over HTTP vs a no-op route, {CLIENT_THREADS} keep-alive clients", flush=True)
    server = HttpServer(bench.main.url)
    bench.add(
        gate_and_noop_over_http(
            bench,
            server,
            demo.service_token(server.secret),
            "/bench/noop",
            lambda: BackendCpu(server.pid),
            key="3a",
            measurement=(
                f"interaction-gate over HTTP (werkzeug threaded, {CLIENT_THREADS} keep-alive"
                " clients)"
            ),
            baseline_label="no-op route, same server and clients",
            target=">= 0.7",
        )
    )


# What the proposals for files the benchmark may not change would gain: the served gate as
# it is, against a second server changed in one way. (BENCH_ONLY=6; not in the default run.)
EDGE_VARIANTS: dict[str, tuple[dict[str, str], dict[str, str], str]] = {
    # key: (the baseline server's environment, the changed one's, what changed)
    "6a": (
        {},
        {"LOG_LEVEL": "WARNING"},
        "without the structured request log line (functions/edge/http.py; LOG_LEVEL=WARNING)",
    ),
    "6b": (
        {},
        {"BENCH_HTTP": "quiet"},
        "without werkzeug's access log line (a request handler for functions/local/server.py)",
    ),
    "6c": ({}, {"LOG_LEVEL": "WARNING", "BENCH_HTTP": "quiet"}, "without either log line"),
    "6d": (
        {},
        {"BENCH_HTTP": "http10"},
        "over HTTP/1.0, as `make run` serves today (a new connection per request)",
    ),
    "6e": (
        {"BENCH_HTTP_LOGGING": "make-run"},
        {"BENCH_HTTP_LOGGING": "make-run-quiet-pool"},
        "with `make run`'s logging, psycopg.pool set to WARNING (functions/local/server.py)",
    ),
}


def _server_cpu(pids: list[int]) -> Callable[[], dict[str, Callable[[], float | None]]]:
    def probes() -> dict[str, Callable[[], float | None]]:
        return {"server": ProcessesCpu(pids), "client": own_cpu}

    return probes


def edge_variants(bench: Bench) -> None:
    print("6. the served gate, as it is vs changed in one way (proposals)", flush=True)
    active = [c for c, _ in sample_conversations(bench.main.url, "active", 20000)]
    for key, (base_environment, environment, what) in EDGE_VARIANTS.items():
        servers = [
            HttpServer(bench.main.url, base_environment),
            HttpServer(bench.main.url, environment),
        ]
        clients: list[list[Client]] = []
        try:
            token = demo.service_token(servers[0].secret)
            clients = [
                [Client(server.port, token) for _ in range(CLIENT_THREADS)] for server in servers
            ]
            bodies = gate_bodies(active)
            check_gate(clients[1][0], bodies)
            pids = [server.pid for server in servers]
            summaries = http_rounds(
                bench,
                {"as is": (clients[0], GATE_PATH), "changed": (clients[1], GATE_PATH)},
                bodies,
                _server_cpu(pids),
            )
        finally:
            for group in clients:
                for client in group:
                    client.close()
            for server in servers:
                server.stop()
        changed, as_is = summaries["changed"], summaries["as is"]
        bench.add(
            Figure(
                key=key,
                measurement=(
                    f"interaction-gate over HTTP {what}; server CPU ms per request"
                    f" {changed['cpu_ms_per_request'].get('server')} vs"
                    f" {as_is['cpu_ms_per_request'].get('server')}"
                ),
                value=changed["rate"],
                unit="req/s",
                baseline=as_is["rate"],
                baseline_label=(
                    "the served gate as it is (keep-alive"
                    + (", `make run`'s logging" if base_environment else "")
                    + "), alternated"
                ),
                details={
                    "changed": changed,
                    "as_is": as_is,
                    "environment": environment,
                    "base_environment": base_environment,
                },
            )
        )


def gate_vs_naive(bench: Bench) -> None:
    print("3b. gate vs a naive gate (read, then insert, from Python)", flush=True)
    active = [c for c, _ in sample_conversations(bench.main.url, "active", 5000)]
    paused = [c for c, _ in sample_conversations(bench.main.url, "indefinite", 1000)]
    database = one_connection(bench.main.url)
    pool = database._pool.connections
    try:
        paused_cycle, active_cycle = itertools.cycle(paused), itertools.cycle(active)

        def naive_paused() -> dict[str, Any]:
            return naive.gate(pool, next(paused_cycle), message_id(), "ai_agent")

        def naive_active() -> dict[str, Any]:
            return naive.gate(pool, next(active_cycle), message_id(), "ai_agent")

        def naive_paused_plain() -> dict[str, Any]:
            return naive.gate(pool, next(paused_cycle), message_id(), "ai_agent", lean=False)

        subjects = {
            "gate paused": gate_caller(database, paused),
            "naive paused": naive_paused,
            "gate active": gate_caller(database, active),
            "naive active": naive_active,
            "naive paused plain": naive_paused_plain,
        }
        for name, call in subjects.items():
            expect(call, "active" in name)
        probe = backend_cpu(database)
        samples = alternate(
            subjects,
            rounds=bench.rounds(15),
            calls_per_round=2000,
            seconds_per_round=bench.seconds(0.5),
            warm_up_calls=len(active),
            warm_up_seconds=bench.seconds(4.0),
            probes=dict.fromkeys(subjects, probe),
        )
    finally:
        database.close()
    for key, mode, naive_name, target, what, label in (
        (
            "3b",
            "paused",
            "naive paused",
            ">= 1.5",
            "writes interaction_blocked: 1 round trip vs 2",
            "naive gate, same connection and kept cursor",
        ),
        (
            "3b'",
            "paused",
            "naive paused plain",
            "",
            "same, the naive gate written with psycopg's connection.execute",
            "naive gate, connection.execute per statement",
        ),
        (
            "3c",
            "active",
            "naive active",
            "",
            "reads only: 1 round trip each",
            "naive gate, same connection and kept cursor",
        ),
    ):
        gate, slow = samples[f"gate {mode}"], samples[naive_name]
        bench.add(
            Figure(
                key=key,
                measurement=f"gate vs naive gate, {mode} conversation ({what})",
                value=gate.rate,
                unit="calls/s",
                baseline=slow.rate,
                baseline_label=label,
                target=target,
                details={"gate": _latency_details(gate), "naive": _latency_details(slow)},
            )
        )


# ---------------------------------------------------------------------------------------
# 4. The auto-resume sweep: 100k expired pauses among 1M conversations, and none
# ---------------------------------------------------------------------------------------

SWEEP_LIMIT = 10_000
REARM = """
with t as (
  select s.id, now() - interval '2 hours' + make_interval(secs => s.i * 3600.0 / 1000000) as at
  from bench.sweep_targets s where s.i >= %(low)s and s.i < %(high)s
), paused as (
  update public.conversations c
  set ai_mode = 'paused', paused_at = t.at, paused_until = t.at + interval '30 minutes',
      paused_by = null, pause_duration_minutes = 30
  from t
  where c.id = any (array(select t.id from t)) and c.id = t.id and c.ai_mode = 'active'
  returning c.id
)
insert into public.ai_pause_logs
  (conversation_id, action, reason, duration_minutes, triggered_by, previous_ai_mode,
   new_ai_mode)
select id, 'pause_activated', 'bench', 30, 'service', 'active', 'paused' from paused
"""


class BackendMemory(threading.Thread):
    """The peak private memory (RssAnon) of a Postgres backend, sampled every 2 ms from
    /proc while a call runs; None when /proc cannot show it (another machine)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self._status = Path(f"/proc/{pid}/status")
        self._stopped = threading.Event()
        self.peak_kib: int | None = self._read()

    def _read(self) -> int | None:
        try:
            for line in self._status.read_text().splitlines():
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None

    def run(self) -> None:
        deadline = time.monotonic() + 120
        while not self._stopped.wait(0.002) and time.monotonic() < deadline:
            value = self._read()
            if value is None:
                return
            self.peak_kib = max(self.peak_kib or 0, value)

    def stop(self) -> int | None:
        self._stopped.set()
        self.join(timeout=5)
        return self.peak_kib


def sweep(bench: Bench) -> None:
    print(
        f"4. auto-resume sweep: {SWEEP_EXPIRED:,} expired among "
        f"{bench.sweep.conversations:,} conversations, limit {SWEEP_LIMIT:,}",
        flush=True,
    )
    url = bench.sweep.url
    with connect(url) as connection:
        connection.execute("set synchronous_commit = off")  # as the sweep's connection
        row = connection.execute("select pg_backend_pid()").fetchone()
        assert row is not None
        rearm_probe = BackendCpu(int(row[0]))
        # The baseline: the same rows, paused again (update + log row) by id, in batches.
        rearm_seconds, rearm_cpu, rearmed = 0.0, 0.0, 0
        for low in range(0, 1_000_000, 100_000):
            cpu_before, started = rearm_probe(), time.perf_counter()
            cursor = connection.execute(REARM, {"low": low, "high": low + 100_000})
            rearm_seconds += time.perf_counter() - started
            cpu_after = rearm_probe()
            if cpu_before is not None and cpu_after is not None:
                rearm_cpu += cpu_after - cpu_before
            rearmed += cursor.rowcount
        connection.execute("vacuum (analyze) public.conversations")
        expired = connection.execute(
            "select count(*) from public.conversations"
            " where ai_mode = 'paused' and paused_until <= now()"
        ).fetchone()
        log_rows = connection.execute("select count(*) from public.ai_pause_logs").fetchone()
    assert expired is not None
    assert log_rows is not None
    database = one_connection(url)
    probe = backend_cpu(database)
    batches: list[dict[str, Any]] = []
    resumed_total, seconds_total, cpu_total = 0, 0.0, 0.0
    tracemalloc.start()
    try:
        database.call("sweep", {"limit": 1})  # warm-up: the plan, one pause
        for _ in range(2 * SWEEP_EXPIRED // SWEEP_LIMIT + 2):
            tracemalloc.reset_peak()
            memory = BackendMemory(probe.pid)
            memory.start()
            cpu_before, started = probe(), time.perf_counter()
            answer = database.call("sweep", {"limit": SWEEP_LIMIT})
            elapsed = time.perf_counter() - started
            cpu_after = probe()
            backend_peak = memory.stop()
            python_peak = tracemalloc.get_traced_memory()[1]
            resumed = int(answer["resumed"])
            del answer
            if resumed == 0:
                break
            cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
            resumed_total += resumed
            seconds_total += elapsed
            cpu_total += cpu or 0.0
            batches.append(
                {
                    "resumed": resumed,
                    "seconds": round(elapsed, 4),
                    "backend_cpu_seconds": cpu,
                    "python_peak_kib": round(python_peak / 1024),
                    "backend_rss_anon_peak_kib": backend_peak,
                }
            )
    finally:
        tracemalloc.stop()
    try:
        idle = alternate(
            {
                "select 1": database.ping,
                "sweep": lambda: database.call("sweep", {"limit": SWEEP_LIMIT}),
            },
            rounds=bench.rounds(6),
            calls_per_round=200,
            seconds_per_round=bench.seconds(0.5),
            warm_up_calls=50,
            probes={"select 1": probe, "sweep": probe},
        )
    finally:
        database.close()
    rate = resumed_total / seconds_total if seconds_total else 0.0
    rearm_rate = rearmed / rearm_seconds if rearm_seconds else float("nan")
    cpu_rate = resumed_total / cpu_total if cpu_total else None
    python_peaks = [batch["python_peak_kib"] for batch in batches]
    backend_peaks = [
        b["backend_rss_anon_peak_kib"] for b in batches if b["backend_rss_anon_peak_kib"]
    ]
    bench.add(
        Figure(
            key="4a",
            measurement=(
                f"sweep: {resumed_total:,} expired pauses resumed, {len(batches)} calls of limit"
                f" {SWEEP_LIMIT:,}, among {bench.sweep.conversations:,} conversations"
                + (f" ({cpu_rate:,.0f} per backend CPU second)" if cpu_rate else "")
            ),
            value=rate,
            unit="resumed/s",
            baseline=rearm_rate,
            baseline_label="the same rows paused again by id (update + log row), same batches",
            target=">= 20000",
            target_on="value",
            details={
                "expired_before": expired[0],
                "log_rows_before": log_rows[0],
                "batches": batches,
                "resumed_per_backend_cpu_second": None if cpu_rate is None else round(cpu_rate),
                "rearmed": rearmed,
                "rearm_seconds": round(rearm_seconds, 3),
                "rearm_per_backend_cpu_second": (round(rearmed / rearm_cpu) if rearm_cpu else None),
            },
        ),
    )
    growth = max(python_peaks[1:]) / python_peaks[0] if len(python_peaks) > 1 else 1.0
    backend_note = (
        f"; Postgres backend private memory (RssAnon) peak {backend_peaks[0]:,} KiB in the"
        f" first call, {max(backend_peaks):,} KiB at most"
        if backend_peaks
        else ""
    )
    bench.add(
        Figure(
            key="4b",
            measurement=(
                f"sweep memory per call of {SWEEP_LIMIT:,}: Python peak (tracemalloc), largest"
                f" of the later calls / the first{backend_note}"
            ),
            value=max(python_peaks[1:]) if len(python_peaks) > 1 else float("nan"),
            unit="KiB",
            baseline=python_peaks[0] if python_peaks else None,
            baseline_label="first call",
            ratio=growth,
            target="<= 1.2",
            details={
                "python_peak_kib": python_peaks,
                "backend_rss_anon_peak_kib": backend_peaks,
                "backend_growth": (
                    max(backend_peaks) / backend_peaks[0] if backend_peaks else None
                ),
            },
        )
    )
    subject, baseline = idle["sweep"], idle["select 1"]
    bench.add(
        Figure(
            key="4c",
            measurement=(
                f"sweep with nothing expired over {bench.sweep.conversations:,} conversations,"
                f" p50 (p99 {subject.percentile_ms(99):.2f} ms)"
            ),
            value=subject.percentile_ms(50),
            unit="ms",
            baseline=baseline.percentile_ms(50),
            baseline_label=f"select 1 p50 (p99 {baseline.percentile_ms(99):.2f} ms)",
            target="< 5",
            target_on="value",
            details={"sweep": _latency_details(subject), "select 1": _latency_details(baseline)},
        ),
    )


# ---------------------------------------------------------------------------------------
# 5. Activate and resume, and the log's size
# ---------------------------------------------------------------------------------------


def activate_resume(bench: Bench) -> None:
    print("5. activate and resume per second as the log grows", flush=True)
    databases = [bench.nolog, bench.main] + ([bench.more] if bench.more else [])
    opened: dict[str, tuple[PostgresDatabase, Iterator[tuple[UUID, UUID]], int]] = {}
    probes: dict[str, BackendCpu] = {}
    try:
        for built in databases:
            with connect(built.url) as connection:
                row = connection.execute("select count(*) from public.ai_pause_logs").fetchone()
            assert row is not None
            sampled = sample_conversations(built.url, "active", 20000)
            opened[built.name] = (one_connection(built.url), iter(sampled), row[0])
            probes[built.name] = backend_cpu(opened[built.name][0])
        activated = {name: Sample(name) for name in opened}
        resumed = {name: Sample(name) for name in opened}
        for round_number in range(bench.rounds(6) + 1):
            for name, (database, conversations, _) in opened.items():
                paused: list[tuple[UUID, UUID]] = []

                def activate(
                    database: PostgresDatabase = database,
                    conversations: Iterator[tuple[UUID, UUID]] = conversations,
                    paused: list[tuple[UUID, UUID]] = paused,
                ) -> None:
                    conversation, attendant = next(conversations)
                    database.call(
                        "activate",
                        {
                            "conversation_id": conversation,
                            "caller": attendant,
                            "triggered_by": None,
                            "duration_minutes": 30,
                            "use_default": False,
                            "reason": "bench",
                        },
                    )
                    paused.append((conversation, attendant))

                def resume(
                    database: PostgresDatabase = database,
                    paused: list[tuple[UUID, UUID]] = paused,
                ) -> None:
                    conversation, attendant = paused.pop()
                    database.call(
                        "resume",
                        {
                            "conversation_id": conversation,
                            "caller": attendant,
                            "triggered_by": None,
                            "reason": "bench",
                        },
                    )

                warm = round_number == 0  # the first round warms up
                target = Sample("warm-up") if warm else activated[name]
                _probed(probes[name], target, activate, 600, bench.seconds(0.6))
                target = Sample("warm-up") if warm else resumed[name]
                _probed(probes[name], target, resume, len(paused), 60)
    finally:
        for database, _, _ in opened.values():
            database.close()
    base_name = bench.nolog.name
    keys = iter("abcdefgh")
    for transition, samples in (("activate", activated), ("resume", resumed)):
        baseline = samples[base_name]
        for built in databases[1:]:
            subject = samples[built.name]
            log_rows = opened[built.name][2]
            bench.add(
                Figure(
                    key=f"5{next(keys)}",
                    measurement=(
                        f"{transition} (attendant, one connection) with {log_rows:,} log rows,"
                        f" {built.conversations:,} conversations"
                    ),
                    value=subject.rate,
                    unit="calls/s",
                    baseline=baseline.rate,
                    baseline_label=f"same with {opened[base_name][2]:,} log rows",
                    details={
                        "subject": _latency_details(subject),
                        "baseline": _latency_details(baseline),
                    },
                )
            )


def _probed(
    probe: BackendCpu,
    sample: Sample,
    call: Callable[[], object],
    max_calls: int,
    max_seconds: float,
) -> None:
    """run_calls, adding the backend CPU time the calls took to `sample`."""
    before = probe()
    run_calls(call, sample, max_calls=max_calls, max_seconds=max_seconds)
    after = probe()
    if before is not None and after is not None:
        sample.backend_cpu = (sample.backend_cpu or 0.0) + after - before
