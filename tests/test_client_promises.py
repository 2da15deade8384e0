"""The client's promises against servers that misbehave (real HTTP on 127.0.0.1), sync and
async alike: one deadline per call, whatever a server drips and however often it asks for a
retry; a cap on what is read; and a gate that never raises and says "do not send" to any
answer it cannot read in full. No assertion on speed: a hang fails at a generous bound."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, TypeVar

import pytest
from takeover_client import (
    AsyncTakeoverClient,
    Decision,
    RetryPolicy,
    Status,
    TakeoverClient,
    TakeoverError,
)

from tests.local_http import LocalServer, Quiet

C1 = "7a1c0000-0000-4000-8000-0000000000c1"
ALLOWED = b'{"allowed": true, "ai_mode": "active", "paused_until": null, "event_id": null}'
PAUSED: dict[str, Any] = {
    "conversation_id": C1,
    "ai_mode": "paused",
    "paused_at": "2026-12-01T10:00:00.000000Z",
    "paused_until": "2026-12-01T10:15:00.000000Z",
    "paused_by": None,
    "duration_minutes": 15,
    "default_duration_minutes": 30,
    "event_id": None,
    "blocked_drafts": [],
}
HANG_BOUND_SECONDS = 30.0  # far beyond any deadline below: only a hang reaches it
Result = TypeVar("Result")


@dataclass
class Misbehaving:
    """A server whose every answer is written by `answer`; `sent` counts the body bytes it
    managed to send."""

    url: str
    sent: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


Answer = Callable[[BaseHTTPRequestHandler, Misbehaving], None]


@contextmanager
def misbehaving(answer: Answer) -> Iterator[Misbehaving]:
    box: list[Misbehaving] = []

    class Handler(Quiet, BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            with suppress(OSError):  # the client hung up: what it is meant to do here
                answer(self, box[0])

        def do_POST(self) -> None:
            self.do_GET()

    server = LocalServer(Handler)
    box.append(Misbehaving(server.url))
    try:
        yield box[0]
    finally:
        box[0].stop.set()
        server.close()


def head(status: int = 200, **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status} X", *(f"{k.replace('_', '-')}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def drip(data: bytes, server: Misbehaving, handler: BaseHTTPRequestHandler) -> None:
    """One byte every 0.25 s: each well within any read timeout, the whole never done."""
    for byte in data:
        if server.stop.wait(0.25):
            return
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()


def drip_head(handler: BaseHTTPRequestHandler, server: Misbehaving) -> None:
    body = ALLOWED + b" " * 1000
    drip(head(content_length=str(len(body))) + body, server, handler)


def drip_body(handler: BaseHTTPRequestHandler, server: Misbehaving) -> None:
    body = b" " * 1000 + ALLOWED
    handler.wfile.write(head(content_length=str(len(body))))
    drip(body, server, handler)


HUGE = 64 * 1024 * 1024
PIECE = b" " * 65536  # whitespace: the 64 MiB then the answer would parse as JSON


def huge_declared(handler: BaseHTTPRequestHandler, server: Misbehaving) -> None:
    handler.wfile.write(head(content_length=str(HUGE + len(ALLOWED))))
    for _ in range(HUGE // len(PIECE)):
        handler.wfile.write(PIECE)
        server.sent += len(PIECE)
    handler.wfile.write(ALLOWED)


def huge_chunked(handler: BaseHTTPRequestHandler, server: Misbehaving) -> None:
    handler.wfile.write(head(transfer_encoding="chunked"))
    for _ in range(HUGE // len(PIECE)):
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(PIECE), PIECE))
        server.sent += len(PIECE)
    handler.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(ALLOWED), ALLOWED))


def always(status: int, body: bytes, **headers: str) -> Answer:
    def answer(handler: BaseHTTPRequestHandler, server: Misbehaving) -> None:
        handler.wfile.write(head(status, content_length=str(len(body)), **headers) + body)

    return answer


def bounded(call: Callable[[], Result]) -> Result:
    """call()'s result, or the test fails (instead of hanging CI) if it has not returned
    within HANG_BOUND_SECONDS. A bound on a hang, not a measure of speed."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(("returned", call()))
        except BaseException as error:  # handed to the test's thread
            outcome.append(("raised", error))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_BOUND_SECONDS)
    if not outcome:
        pytest.fail(f"the call had not returned after {HANG_BOUND_SECONDS} s")
    how, value = outcome[0]
    if how == "raised":
        raise value
    result: Result = value
    return result


def sync_gate(url: str, **options: Any) -> Decision:
    with TakeoverClient(url, "key", **options) as takeover:
        return takeover.gate(C1, "m-1")


def async_gate(url: str, **options: Any) -> Decision:
    async def gate() -> Decision:
        async with AsyncTakeoverClient(url, "key", **options) as takeover:
            return await takeover.gate(C1, "m-1")

    return asyncio.run(gate())


def sync_status(url: str, **options: Any) -> Status:
    with TakeoverClient(url, "key", **options) as takeover:
        return takeover.status(C1)


def async_status(url: str, **options: Any) -> Status:
    async def status() -> Status:
        async with AsyncTakeoverClient(url, "key", **options) as takeover:
            return await takeover.status(C1)

    return asyncio.run(status())


GATES = pytest.mark.parametrize("gate", [sync_gate, async_gate], ids=["sync", "async"])
STATUSES = pytest.mark.parametrize("status", [sync_status, async_status], ids=["sync", "async"])


# ---------------------------------------------------------------------------------------
# One deadline per call
# ---------------------------------------------------------------------------------------


@GATES
@pytest.mark.parametrize("answer", [drip_head, drip_body], ids=["head", "body"])
def test_a_dripping_server_cannot_hold_the_gate_past_its_deadline(
    gate: Callable[..., Decision], answer: Answer
) -> None:
    with misbehaving(answer) as server:
        decision = bounded(lambda: gate(server.url, timeout=1.0))
    assert (decision.allowed, decision.reason, decision.error) == (False, "unavailable", "timeout")


@STATUSES
def test_a_dripping_server_cannot_hold_any_call_past_its_deadline(
    status: Callable[..., Status],
) -> None:
    with misbehaving(drip_body) as server, pytest.raises(TakeoverError) as raised:
        bounded(lambda: status(server.url, timeout=1.0))
    assert (raised.value.status, raised.value.code) == (0, "timeout")


@GATES
def test_retries_end_at_the_calls_deadline(gate: Callable[..., Decision]) -> None:
    busy = b'{"error": {"code": "database_unavailable", "message": "later"}}'
    many = RetryPolicy(attempts=50, backoff=1.0, max_wait=1.0)
    with misbehaving(always(503, busy, retry_after="1")) as server:
        decision = bounded(lambda: gate(server.url, timeout=1.5, retry=many))
    assert decision == Decision(False, "unavailable", error="database_unavailable")


# ---------------------------------------------------------------------------------------
# A cap on what is read
# ---------------------------------------------------------------------------------------


@GATES
@pytest.mark.parametrize("answer", [huge_declared, huge_chunked], ids=["declared", "chunked"])
def test_an_answer_over_the_cap_is_do_not_send_and_not_read(
    gate: Callable[..., Decision], answer: Answer
) -> None:
    with misbehaving(answer) as server:
        decision = bounded(lambda: gate(server.url))
    assert decision == Decision(False, "unreadable", error="answer_too_large")
    # 1 MiB read, and what the sockets' buffers took before the client hung up.
    assert server.sent < HUGE // 2


@STATUSES
def test_any_call_refuses_an_answer_over_the_cap(status: Callable[..., Status]) -> None:
    with misbehaving(huge_chunked) as server, pytest.raises(TakeoverError) as raised:
        bounded(lambda: status(server.url))
    assert (raised.value.status, raised.value.code) == (200, "answer_too_large")
    assert "over 1048576 bytes" in raised.value.message
    assert server.sent < HUGE // 2


@STATUSES
def test_the_cap_is_the_clients_to_set(status: Callable[..., Status]) -> None:
    with misbehaving(always(200, json.dumps(PAUSED).encode())) as server:
        assert bounded(lambda: status(server.url)).ai_mode == "paused"
        with pytest.raises(TakeoverError) as raised:
            bounded(lambda: status(server.url, max_answer_bytes=100))
    assert (raised.value.status, raised.value.code) == (200, "answer_too_large")


# ---------------------------------------------------------------------------------------
# The gate reads its answer in full, or says "do not send"
# ---------------------------------------------------------------------------------------


def gate_answer(**fields: Any) -> bytes:
    answer = {"allowed": False, "ai_mode": "paused", "paused_until": None, "event_id": 7}
    return json.dumps(answer | fields).encode()


UNREADABLE = {
    "a time that is not one": gate_answer(paused_until="tomorrow at ten"),
    "a time without its offset": gate_answer(paused_until="2026-12-01T10:00:00"),
    "allowed alone": b'{"allowed": true}',
    "allowed as text": gate_answer(allowed="true", ai_mode="active"),
    "allowed as a number": gate_answer(allowed=1, ai_mode="active"),
    "an unknown mode": gate_answer(ai_mode="sleeping"),
    "an event id as text": gate_answer(event_id="7"),
    "not JSON": b"<html>allowed</html>",
    "an array": b'[{"allowed": true}]',
    "nested past any stack": b"[" * 100_000,
}


@GATES
@pytest.mark.parametrize("body", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_the_gate_says_do_not_send_to_an_answer_it_cannot_read_in_full(
    gate: Callable[..., Decision], body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="takeover_client")
    with misbehaving(always(200, body)) as server:
        decision = bounded(lambda: gate(server.url))
    assert decision == Decision(False, "unreadable", error="unreadable_answer")
    assert [record.levelno for record in caplog.records] == [logging.WARNING]
    assert "do not send (unreadable)" in caplog.text


@STATUSES
def test_any_call_refuses_an_answer_it_cannot_read_in_full(
    status: Callable[..., Status],
) -> None:
    state = PAUSED | {"paused_until": "soon"}
    body = json.dumps(state).encode()
    with misbehaving(always(200, body)) as server, pytest.raises(TakeoverError) as raised:
        bounded(lambda: status(server.url))
    assert (raised.value.status, raised.value.code) == (200, "unreadable_answer")
    assert raised.value.message == "The answer.paused_until is not an ISO 8601 time."
