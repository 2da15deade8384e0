"""8. Webhooks: what the outbox costs the gate, and what the dispatcher sends.

- 8a: the paused gate in a workspace with 3 subscribed endpoints (the log row's trigger
  queues 3 deliveries) against the same gate in a workspace with none, alternated on one
  connection each.
- 8b: deliveries per second from one dispatcher to a keep-alive receiver (its own process)
  that answers 204 at once.
- 8c: the same healthy receiver's deliveries per second while another endpoint never answers
  (its 10 s timeouts), against the healthy receiver alone.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID, uuid4

from bench import dataset
from bench.cases import Bench, gate_caller, one_connection
from bench.harness import (
    Figure,
    Recorder,
    alternate,
    published_port,
    quick_from_environment,
    stop_helper,
    table,
)
from functions.database.postgres import PostgresDatabase
from functions.local import demo
from functions.shared.config import config
from functions.webhooks.dispatcher import Dispatcher

NAME = "takeover_bench_webhooks"
PAUSED_PER_WORKSPACE = 2000
SUBSCRIBED = UUID("7a1c0000-0000-4000-8000-000000000001")  # the demo's Acme Support
UNSUBSCRIBED = UUID("7a1c0000-0000-4000-8000-000000000002")  # Globex: no endpoint
SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="


def _database(server: str) -> str:
    """A fresh database: the migrations, the demo seed, and paused conversations in a
    workspace with 3 endpoints and in one with none."""
    url = dataset.recreate(server, NAME)
    demo.seed_if_empty(url)
    with dataset.connect(url) as connection:
        for workspace in (SUBSCRIBED, UNSUBSCRIBED):
            connection.execute(
                "insert into public.conversations (workspace_id, ai_mode, paused_at)"
                " select %s, 'paused', now() from generate_series(1, %s)",
                (workspace, PAUSED_PER_WORKSPACE),
            )
        # A log of some size before planning: on an empty log a session's cached plan would
        # scan it, and the two subjects would be planned differently.
        connection.execute(
            "insert into public.ai_pause_logs (conversation_id, action, triggered_by,"
            " previous_ai_mode, new_ai_mode, message_id)"
            " select c.id, 'interaction_blocked', 'bench', 'paused', 'paused', 'old-' || i"
            " from public.conversations c, generate_series(1, 25) i where c.ai_mode = 'paused'"
        )
        for n in range(3):
            connection.execute(
                "insert into public.webhook_endpoints (workspace_id, url, secret)"
                " values (%s, %s, %s)",
                (SUBSCRIBED, f"https://hooks.example.com/{n}", SECRET),
            )
        connection.execute("analyze")
    return url


def _paused(url: str, workspace: UUID) -> list[UUID]:
    with dataset.connect(url) as connection:
        rows = connection.execute(
            "select id from public.conversations where workspace_id = %s and ai_mode = 'paused'",
            (workspace,),
        ).fetchall()
    return [row[0] for row in rows]


@dataclass
class _Standalone(Recorder):
    """What the measurement needs of a Bench, when it runs alone (BENCH_ONLY=8)."""

    server: str
    quick: bool
    figures: list[Figure] = field(default_factory=list)


def gate_with_endpoints(bench: Bench | _Standalone, url: str) -> Figure:
    subscribed = one_connection(url)
    unsubscribed = one_connection(url)
    try:
        samples = alternate(
            {
                "3 endpoints": gate_caller(subscribed, _paused(url, SUBSCRIBED)),
                "none": gate_caller(unsubscribed, _paused(url, UNSUBSCRIBED)),
            },
            rounds=bench.rounds(12),
            calls_per_round=1500,
            seconds_per_round=0.5,
            warm_up_calls=2000,
            warm_up_seconds=2.0,
        )
    finally:
        subscribed.close()
        unsubscribed.close()
    subject, baseline = samples["3 endpoints"], samples["none"]
    return Figure(
        key="8a",
        measurement=(
            "gate, paused conversation, workspace with 3 subscribed endpoints (its log row"
            f" queued in the outbox), p50 {subject.percentile_ms(50):.2f} ms"
        ),
        value=subject.rate,
        unit="calls/s",
        baseline=baseline.rate,
        baseline_label=(
            f"same gate, workspace with no endpoint, p50 {baseline.percentile_ms(50):.2f} ms"
        ),
        target=">= 0.85",
    )


@contextmanager
def _receiver() -> Iterator[str]:
    """bench.webhook_receiver in a subprocess; its URL."""
    with tempfile.TemporaryDirectory() as folder:
        port_file = Path(folder) / "port"
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.webhook_receiver", str(port_file)],
            stdin=subprocess.PIPE,
        )
        try:
            port = published_port(process, port_file, 20)
            if port is None:
                raise SystemExit("the webhook receiver did not start")
            yield f"http://127.0.0.1:{port}/hook"
        finally:
            stop_helper(process)


@contextmanager
def _silent_endpoint() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    finally:
        listener.close()


def _queue(url: str, endpoints: dict[str, str], events: int) -> dict[str, UUID]:
    """A workspace with these endpoints (name -> URL) and `events` blocked messages: the
    trigger queues `events` deliveries per endpoint. The endpoint ids by name."""
    workspace = uuid4()
    with dataset.connect(url) as connection:
        connection.execute(
            "insert into public.workspaces (id, name) values (%s, 'webhook bench')", (workspace,)
        )
        ids = {}
        for name, endpoint_url in endpoints.items():
            row = connection.execute(
                "insert into public.webhook_endpoints (workspace_id, url, secret)"
                " values (%s, %s, %s) returning id",
                (workspace, endpoint_url, SECRET),
            ).fetchone()
            assert row is not None
            ids[name] = row[0]
        conversation = connection.execute(
            "insert into public.conversations (workspace_id, ai_mode, paused_at)"
            " values (%s, 'paused', now()) returning id",
            (workspace,),
        ).fetchone()
        assert conversation is not None
        connection.execute(
            "insert into public.ai_pause_logs (conversation_id, action, triggered_by,"
            " previous_ai_mode, new_ai_mode, message_id)"
            " select %s, 'interaction_blocked', 'bench', 'paused', 'paused', 'm-' || i"
            " from generate_series(1, %s) i",
            (conversation[0], events),
        )
    return ids


def _delivered(url: str, endpoint: UUID) -> int:
    with dataset.connect(url) as connection:
        row = connection.execute(
            "select count(*) from public.webhook_deliveries"
            " where endpoint_id = %s and status = 'delivered'",
            (endpoint,),
        ).fetchone()
    return int(row[0]) if row else 0


def _pump(database: PostgresDatabase, dispatcher: Dispatcher, stop: threading.Event) -> None:
    """One dispatcher as `make run` drives it: runs back to back, up to 2 at once (a run
    held by an endpoint that does not answer leaves the other to the rest)."""

    def runs() -> None:
        while not stop.is_set():
            result = dispatcher.run(database, 1000)
            if result.delivered + result.failed == 0:
                stop.wait(0.01)

    workers = [threading.Thread(target=runs, daemon=True) for _ in range(2)]
    for worker in workers:
        worker.start()
    stop.wait()
    for worker in workers:
        worker.join(timeout=30)


def _throughput(url: str, endpoints: dict[str, str], events: int) -> float:
    """Deliveries per second to the endpoint named `healthy`, from the first run until all
    `events` of it are delivered."""
    ids = _queue(url, endpoints, events)
    database = PostgresDatabase(url, min_size=2, max_size=8)
    dispatcher = Dispatcher()
    stop = threading.Event()
    started = time.perf_counter()
    pump = threading.Thread(target=_pump, args=(database, dispatcher, stop), daemon=True)
    pump.start()
    try:
        deadline = started + 120
        while _delivered(url, ids["healthy"]) < events:
            if time.perf_counter() > deadline:
                raise SystemExit("the dispatcher did not deliver every event in 120 s")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        pump.join(timeout=30)
        database.close()
    return events / elapsed


def webhooks(bench: Bench | _Standalone) -> None:
    print("8. webhooks: the outbox on the gate, the dispatcher's throughput", flush=True)
    os.environ["WEBHOOKS_ALLOW_PRIVATE_URLS"] = "1"
    os.environ.pop("WEBHOOK_TIMEOUT_SECONDS", None)  # the contract's 10 s
    config.cache_clear()
    # Any database of the server serves to create ours.
    url = _database(bench.server if isinstance(bench, _Standalone) else bench.empty.url)
    bench.add(gate_with_endpoints(bench, url))
    with dataset.connect(url) as connection:
        # 7a's endpoints are not there to be sent to.
        connection.execute("delete from public.webhook_endpoints")
        connection.execute("delete from public.webhook_outbox")

    events = 3000 if bench.quick else 10_000
    # Alone and beside the silent endpoint in turn, twice: the machine's load hits both.
    alone_rates: list[float] = []
    beside_rates: list[float] = []
    with _receiver() as healthy:
        for _ in range(1 if bench.quick else 2):
            alone_rates.append(_throughput(url, {"healthy": healthy}, events))
            with _silent_endpoint() as silent:
                beside_rates.append(
                    _throughput(url, {"healthy": healthy, "silent": silent}, events)
                )
    alone, beside = statistics.median(alone_rates), statistics.median(beside_rates)
    bench.add(
        Figure(
            key="8b",
            measurement=(
                f"dispatcher: {events:,} deliveries to one keep-alive receiver answering"
                " 204 at once (own process), one dispatcher"
            ),
            value=alone,
            unit="deliveries/s",
            target=">= 1000",
            target_on="value",
            details={"runs": alone_rates},
        ),
    )
    bench.add(
        Figure(
            key="8c",
            measurement=(
                "dispatcher: the same receiver's deliveries while another endpoint never"
                " answers (10 s timeouts)"
            ),
            value=beside,
            unit="deliveries/s",
            baseline=alone,
            baseline_label="the healthy receiver alone (8b), runs alternated",
            target=">= 0.9",
            details={"runs": beside_rates},
        )
    )


def main() -> None:
    """`BENCH_ONLY=8 make bench`: this measurement alone, on its own database."""
    server, source = dataset.server_url()
    print(f"Takeover webhook benchmarks, Postgres: {source}", flush=True)
    quick = quick_from_environment()
    bench = _Standalone(server=server, quick=quick)
    webhooks(bench)
    print()
    print(table(bench.figures))


if __name__ == "__main__":
    main()
