"""One structured log line per request, and a request id that errors carry."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from functions.database.instance import use_database
from functions.local import demo
from functions.shared.logs import JsonLines
from tests.support import Api, assert_refused

CONVERSATION = str(demo.FIRST_CONVERSATION_ID)


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        # The line as the handler of every logger of ours writes it.
        self.lines.append(json.loads(JsonLines().format(record)))


@pytest.fixture
def request_log() -> Iterator[Lines]:
    logger = logging.getLogger("takeover.request")
    lines = Lines()
    logger.addHandler(lines)
    yield lines
    logger.removeHandler(lines)


def test_each_request_writes_one_line_without_the_token(api: Api, request_log: Lines) -> None:
    answer = api.act("pause-activate", CONVERSATION)

    assert len(request_log.lines) == 1
    line = request_log.lines[0]
    latency_ms = line.pop("latency_ms")
    assert latency_ms > 0
    assert line == {
        "severity": "INFO",
        "message": f"POST pause-activate 200 {latency_ms:g} ms",
        "logger": "takeover.request",
        "function": "pause-activate",
        "method": "POST",
        "status": 200,
        "request_id": answer.headers["X-Request-Id"],
        "caller": "attendant",
        "conversation_id": CONVERSATION,
        "event_id": answer.get_json()["event_id"],
        "error": None,
    }
    assert api.attendant not in json.dumps(line)


def test_an_error_carries_the_request_id_of_its_log_line(api: Api, request_log: Lines) -> None:
    api.act("pause-activate", CONVERSATION)

    answer = api.act("pause-activate", CONVERSATION, token=api.service)

    error = answer.get_json()["error"]
    assert error["request_id"] == answer.headers["X-Request-Id"]
    assert request_log.lines[-1]["request_id"] == error["request_id"]
    assert request_log.lines[-1]["error"] == "already_paused"
    assert request_log.lines[-1]["caller"] == "service"
    assert request_log.lines[-1]["status"] == 409


def test_a_callers_request_id_is_kept(api: Api, request_log: Lines) -> None:
    answer = api.get(
        "pause-status",
        token=api.attendant,
        conversation_id=CONVERSATION,
    )
    traced, hostile = (
        api.call(
            "GET",
            "pause-status",
            token=api.attendant,
            query={"conversation_id": CONVERSATION},
            headers={"X-Request-Id": request_id},
        )
        for request_id in ("trace-42.a", "bad id; drop")
    )

    assert len(answer.headers["X-Request-Id"]) == 32
    assert traced.headers["X-Request-Id"] == "trace-42.a"
    assert hostile.headers["X-Request-Id"] != "bad id; drop"
    assert [line["request_id"] for line in request_log.lines][1] == "trace-42.a"


def test_an_unauthenticated_request_is_logged_without_a_caller(
    api: Api, request_log: Lines
) -> None:
    answer = api.post("interaction-gate", {"conversation_id": CONVERSATION}, token=None)

    assert answer.status_code == 401
    assert request_log.lines[-1]["caller"] is None
    assert request_log.lines[-1]["error"] == "missing_token"


def test_severity_follows_the_status(api: Api, request_log: Lines) -> None:
    api.act("pause-activate", CONVERSATION)
    api.act("pause-activate", CONVERSATION)

    assert [line["severity"] for line in request_log.lines] == ["INFO", "WARNING"]
    assert request_log.lines[1]["message"].startswith("POST pause-activate 409 already_paused ")


class Broken:
    def call(self, function: str, arguments: Any, options: Any = None) -> Any:
        raise RuntimeError("a bug of ours")

    def ping(self) -> None: ...

    def close(self) -> None: ...


def test_an_unhandled_error_is_one_entry_with_its_traceback(
    api: Api, request_log: Lines, caplog: pytest.LogCaptureFixture
) -> None:
    previous = use_database(Broken())
    try:
        answer = api.act("interaction-gate", CONVERSATION, token=api.service)
    finally:
        use_database(previous)

    assert_refused(answer, 500, "internal_error")
    assert "a bug of ours" not in answer.get_data(as_text=True)
    [line] = request_log.lines
    assert line["severity"] == "ERROR"
    assert line["error"] == "internal_error"
    assert line["stack_trace"].startswith("Traceback (most recent call last):")
    assert line["stack_trace"].rstrip().endswith("RuntimeError: a bug of ours")
    # Nothing else logged it again, line by line.
    assert [r.name for r in caplog.records if r.name != "takeover.request"] == []
