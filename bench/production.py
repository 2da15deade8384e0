"""9. The production path: the gate through a transaction-mode pooler, against a database a
network hop away, a single target's cold start, and the all-in-one app under gunicorn.

    BENCH_ONLY=9 make bench        (builds only the main dataset)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import naive
from bench.cases import (
    CLIENT_THREADS,
    Bench,
    expect,
    gate_and_noop_over_http,
    gate_caller,
    message_id,
    sample_conversations,
)
from bench.harness import Figure, ProcessesCpu, alternate
from functions.database.postgres import PostgresDatabase
from functions.local import demo
from functions.shared.config import LOCAL_JWT_SECRET
from tests import pgbouncer, processes

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def production(bench: Bench) -> None:
    gate_through_pooler(bench)
    gate_vs_naive_one_ms_away(bench)
    cold_start(bench)
    gate_under_gunicorn(bench)


# ---------------------------------------------------------------------------------------
# 9a. The gate through PgBouncer (transaction mode) vs directly
# ---------------------------------------------------------------------------------------


def gate_through_pooler(bench: Bench) -> None:
    print("9a. gate through PgBouncer (transaction mode) vs direct, one connection", flush=True)
    if not pgbouncer.available():
        print("  skipped: pgbouncer is not installed", flush=True)
        return
    active = [c for c, _ in sample_conversations(bench.main.url, "active", 5000)]
    with pgbouncer.running(bench.main.url) as pooler:
        pooled_url = pooler.url
        direct = PostgresDatabase(bench.main.url, min_size=1, max_size=1)
        pooled = PostgresDatabase(pooled_url, min_size=1, max_size=1)
        try:
            subjects = {
                "through PgBouncer": gate_caller(pooled, active),
                "direct": gate_caller(direct, active),
            }
            for call in subjects.values():
                expect(call, True)
            samples = alternate(
                subjects,
                rounds=bench.rounds(15),
                calls_per_round=2000,
                seconds_per_round=bench.seconds(0.5),
                warm_up_calls=1000,
                warm_up_seconds=bench.seconds(2.0),
            )
        finally:
            pooled.close()
            direct.close()
    through, straight = samples["through PgBouncer"], samples["direct"]
    bench.add(
        Figure(
            key="9a",
            measurement=(
                "gate (active) through PgBouncer 1.18, transaction mode, on loopback:"
                f" p50 {through.percentile_ms(50):.3f} ms vs {straight.percentile_ms(50):.3f} ms"
            ),
            value=through.rate,
            unit="calls/s",
            baseline=straight.rate,
            baseline_label="the same gate, same adapter, straight to Postgres",
            target=">= 0.85",
        )
    )


# ---------------------------------------------------------------------------------------
# 9b. The paused gate vs the naive two-round-trip gate, 1 ms of round trip away
# ---------------------------------------------------------------------------------------


class LatencyProxy:
    """A TCP proxy on 127.0.0.1 that holds every chunk `one_way` seconds before passing it
    on, each way: a round trip through it costs twice one_way more, as a database in another
    zone would."""

    def __init__(self, target: tuple[str, int], one_way: float) -> None:
        """`target`: a host and port, or a socket directory and port (the embedded
        Postgres listens on a Unix socket only)."""
        self._target = target
        self._one_way = one_way
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="latency-proxy", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", 0)
        )
        self.port: int = server.sockets[0].getsockname()[1]
        self._server = server
        self._ready.set()
        self._loop.run_forever()

    async def _connection(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        host, port = self._target
        if host.startswith("/"):
            server_reader, server_writer = await asyncio.open_unix_connection(
                f"{host}/.s.PGSQL.{port}"
            )
        else:
            server_reader, server_writer = await asyncio.open_connection(host, port)
            server_writer.get_extra_info("socket").setsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
            )
        client_writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(
            self._pump(client_reader, server_writer),
            self._pump(server_reader, client_writer),
            return_exceptions=True,
        )

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        last = 0.0
        try:
            while data := await reader.read(65536):
                # Strictly later than the previous chunk's: delivered in the order read.
                last = max(loop.time() + self._one_way, last + 1e-6)
                loop.call_at(last, writer.write, data)
        finally:
            if not loop.is_closed():
                loop.call_at(max(loop.time() + self._one_way, last + 1e-6), writer.close)

    def stop(self) -> None:
        async def shut() -> None:
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            asyncio.get_running_loop().stop()

        asyncio.run_coroutine_threadsafe(shut(), self._loop)
        self._thread.join(timeout=5)


def gate_vs_naive_one_ms_away(bench: Bench) -> None:
    print("9b. paused gate vs naive gate, 1 ms of round trip to Postgres", flush=True)
    target = pgbouncer.target_of(bench.main.url)
    paused = [c for c, _ in sample_conversations(bench.main.url, "indefinite", 1000)]
    proxy = LatencyProxy(target, one_way=0.0005)
    url = _through(bench.main.url, proxy.port)
    ours = PostgresDatabase(url, min_size=1, max_size=1)
    theirs = PostgresDatabase(url, min_size=1, max_size=1)
    try:
        cycle = itertools.cycle(paused)

        def naive_paused() -> dict[str, Any]:
            return naive.gate(theirs._pool.connections, next(cycle), message_id(), "ai_agent")

        subjects = {"gate": gate_caller(ours, paused), "naive": naive_paused}
        for call in subjects.values():
            expect(call, False)
        samples = alternate(
            subjects,
            rounds=bench.rounds(9),
            calls_per_round=300,
            seconds_per_round=bench.seconds(0.6),
            warm_up_calls=100,
            warm_up_seconds=bench.seconds(1.0),
        )
    finally:
        ours.close()
        theirs.close()
        proxy.stop()
    gate, slow = samples["gate"], samples["naive"]
    bench.add(
        Figure(
            key="9b",
            measurement=(
                "gate vs naive gate, paused (writes interaction_blocked), 1 ms round trip"
                f" injected: p50 {gate.percentile_ms(50):.2f} ms vs {slow.percentile_ms(50):.2f} ms"
            ),
            value=gate.rate,
            unit="calls/s",
            baseline=slow.rate,
            baseline_label="naive gate (read, then insert: 2 round trips), same proxy",
            target=">= 1.8",
        )
    )


def _through(url: str, port: int) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    parts = conninfo_to_dict(url)
    parts.update(host="127.0.0.1", port=str(port))
    return make_conninfo(**{k: str(v) for k, v in parts.items() if v is not None})


# ---------------------------------------------------------------------------------------
# 9c. A single target's cold start vs a hello-world function started the same way
# ---------------------------------------------------------------------------------------

HELLO = "def hello(request):\n    return 'ok'\n"


def _first_200(
    command: list[str], request: Callable[[int], urllib.request.Request], env: dict[str, str]
) -> float:
    """Seconds from the process's start to its first 200."""
    port = processes.free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = started + 60
        while time.perf_counter() < deadline:
            with (
                contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
                urllib.request.urlopen(request(port), timeout=5) as answer,  # noqa: S310
            ):
                if answer.status == 200:
                    return time.perf_counter() - started
            time.sleep(0.002)
        raise SystemExit(f"{command} gave no 200 in 60 s")
    finally:
        processes.stop(process)


def cold_start(bench: Bench) -> None:
    print(
        "9c. cold start of one target (functions-framework) vs a hello-world function", flush=True
    )
    conversation = sample_conversations(bench.main.url, "active", 1)[0][0]
    token = demo.service_token(LOCAL_JWT_SECRET)
    env = {
        **os.environ,
        "DATABASE_URL": bench.main.url,
        "SUPABASE_JWT_SECRET": LOCAL_JWT_SECRET,
    }
    functions_framework = str(BIN / "functions-framework")

    def gate(port: int) -> urllib.request.Request:
        body = json.dumps({"conversation_id": str(conversation), "message_id": message_id()})
        return urllib.request.Request(
            f"http://127.0.0.1:{port}/",
            data=body.encode(),
            method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )

    def hello(port: int) -> urllib.request.Request:
        return urllib.request.Request(f"http://127.0.0.1:{port}/")

    with tempfile.TemporaryDirectory(prefix="takeover-hello-") as directory:
        source = Path(directory) / "main.py"
        source.write_text(HELLO)
        hello_command = [functions_framework, "--source", str(source), "--target", "hello"]
        gate_command = [
            functions_framework,
            "--source",
            "main.py",
            "--target",
            "interaction_gate",
        ]
        # Warm the file cache and write the .pyc files, as a deployment's build compiles
        # them (the Dockerfile does): with PYTHONDONTWRITEBYTECODE in the environment, every
        # start would compile our modules again.
        warm_env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        _first_200(hello_command, hello, warm_env)
        _first_200(gate_command, gate, warm_env)
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(bench.rounds(9)):
            theirs.append(_first_200(hello_command, hello, env))
            ours.append(_first_200(gate_command, gate, env))
    target, baseline = statistics.median(ours), statistics.median(theirs)
    bench.add(
        Figure(
            key="9c",
            measurement=(
                "cold start, process start to first 200: interaction_gate alone under"
                " functions-framework (a real gate call: token, pool, Postgres)"
            ),
            value=target * 1000,
            unit="ms",
            baseline=baseline * 1000,
            baseline_label="hello-world function, functions-framework, started the same way",
            target="<= 1.5",
            details={
                "ours_ms": [round(s * 1000) for s in ours],
                "hello_ms": [round(s * 1000) for s in theirs],
            },
        )
    )


# ---------------------------------------------------------------------------------------
# 9d. interaction-gate over HTTP under gunicorn vs a no-op function on the same server
# ---------------------------------------------------------------------------------------


class Gunicorn:
    def __init__(self, url: str) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="takeover-gunicorn-")
        self.log = Path(self._directory.name) / "server.log"
        self.port = processes.free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SUPABASE_JWT_SECRET": LOCAL_JWT_SECRET,
        }
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    str(BIN / "gunicorn"),
                    "bench.gunicorn_app:app",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    "1",
                    "--threads",
                    str(CLIENT_THREADS),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.pid = self._process.pid
        try:
            processes.wait_until_listening(self.port, self._process, 60)
        except processes.NotListening:
            self.stop()
            raise SystemExit(f"gunicorn did not start:\n{self.log.read_text()}") from None

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def stop(self) -> None:
        processes.stop(self._process)
        self._directory.cleanup()


def gate_under_gunicorn(bench: Bench) -> None:
    print(
        f"9d. gate over HTTP under gunicorn vs a no-op function, {CLIENT_THREADS} clients",
        flush=True,
    )
    server = Gunicorn(bench.main.url)
    bench.add(
        gate_and_noop_over_http(
            bench,
            server,
            demo.service_token(LOCAL_JWT_SECRET),
            "/functions/v1/bench-noop",
            lambda: ProcessesCpu([server.pid, *server.workers()]),
            key="9d",
            measurement=(
                "interaction-gate over HTTP, gunicorn functions.catalogue.app:app (1 worker,"
                f" {CLIENT_THREADS} threads)"
            ),
            baseline_label=(
                "a no-op function (same Function edge: token, body, log line) on the same server"
            ),
            target=">= 0.8",
        )
    )
