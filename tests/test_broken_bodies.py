"""A body the connection breaks is the caller's doing: a client that hangs up before its
Content-Length, a malformed chunk size, a chunked body that stops. Each answers 400
invalid_body, logged as a WARNING without a stack trace, and writes nothing; under the
local server (werkzeug, `make run`) and under gunicorn (the container, as its Dockerfile
builds it), on raw sockets, because no HTTP client sends such requests."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from functions.local import demo
from tests.deployed import container, secrets, stop, wait_until_listening
from tests.local_server import started_server
from tests.support import JWT_SECRET, log_rows, snapshot

ACTIVE = demo.FIRST_CONVERSATION_ID  # active in the demo seed: a pause that got through shows
# A whole request for a pause: what arrives before the connection breaks is valid JSON.
BODY = json.dumps({"conversation_id": str(ACTIVE), "duration_minutes": 15}).encode()
HEAD = (
    "POST /functions/v1/pause-activate HTTP/1.1\r\n"
    "Host: 127.0.0.1\r\n"
    f"Authorization: Bearer {demo.attendant_token(JWT_SECRET, demo.ATTENDANT_ID)}\r\n"
    "Content-Type: application/json\r\n"
).encode()

BROKEN = [
    pytest.param(
        HEAD + b"Content-Length: %d\r\n\r\n" % (len(BODY) + 40) + BODY, id="cut-before-length"
    ),
    pytest.param(
        HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n" + BODY + b"\r\n0\r\n\r\n",
        id="chunk-size-not-hex",
    ),
    pytest.param(
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % (len(BODY) + 40) + BODY,
        id="chunk-cut-short",
    ),
    pytest.param(
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % len(BODY) + BODY + b"\r\n",
        id="no-last-chunk",
    ),
]


@dataclass
class Served:
    port: int
    log: Callable[[], str]  # what the server wrote so far


@pytest.fixture(params=["werkzeug", "gunicorn"])
def served(
    request: pytest.FixtureRequest, db_url: str, project_root: Path, tmp_path: Path
) -> Iterator[Served]:
    if request.param == "werkzeug":
        with started_server(db_url, project_root, tmp_path) as local:
            yield Served(local.port, local.output.read_text)
        return
    # The container as the Dockerfile builds it, started with its CMD (gunicorn).
    production = container(
        request.getfixturevalue("image"), request.getfixturevalue("venv"), secrets(db_url)
    )
    try:
        wait_until_listening(production)
        yield Served(production.port, production.output)
    finally:
        stop([production])


def send_then_hang_up(port: int, raw: bytes) -> tuple[int, dict[str, Any]]:
    """`raw`, then the sending side closed (the client hung up), and the answer read."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(raw)
        connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


@pytest.mark.parametrize("raw", BROKEN)
def test_a_body_the_connection_breaks_is_400_logged_as_the_callers(
    served: Served, db: psycopg.Connection[Any], raw: bytes
) -> None:
    before = snapshot(db)

    status, body = send_then_hang_up(served.port, raw)

    assert status == 400
    assert body["error"]["code"] == "invalid_body"
    assert snapshot(db) == before
    log = served.log()
    lines = [
        json.loads(line) for line in log.splitlines() if '"function": "pause-activate"' in line
    ]
    assert [(line["severity"], line["status"], line["error"]) for line in lines] == [
        ("WARNING", 400, "invalid_body")
    ]
    assert "stack_trace" not in lines[0]
    assert "Traceback" not in log


def test_the_same_request_whole_is_served(served: Served, db: psycopg.Connection[Any]) -> None:
    """The control: the head and body above, unbroken, pause the conversation."""
    raw = HEAD + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(BODY) + BODY

    status, body = send_then_hang_up(served.port, raw)

    assert status == 200
    assert body["ai_mode"] == "paused"
    assert [(row["action"], row["duration_minutes"]) for row in log_rows(db, ACTIVE)] == [
        ("pause_activated", 15)
    ]
