"""What tests share: calling the functions as a client would, the log rows they write, and
what the database is doing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from flask import Flask
from functions_framework import create_app
from psycopg import sql
from werkzeug.test import TestResponse

from functions.local import demo
from functions.shared.models import Event

MAIN = Path(__file__).resolve().parent.parent / "main.py"
JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"


@cache
def function_app(name: str) -> Flask:
    """The real function, as functions-framework serves it in production."""
    app: Flask = create_app(name.replace("-", "_"), str(MAIN))
    return app


# A log row as the API gives it (pause-logger's events).
LOG_FIELDS = frozenset(Event.model_fields)


class Api:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.attendant = demo.attendant_token(secret, demo.ATTENDANT_ID)
        self.admin = demo.attendant_token(secret, demo.ADMIN_ID)
        self.outsider = demo.attendant_token(secret, demo.OTHER_ADMIN_ID)
        self.service = demo.service_token(secret)

    def call(
        self,
        method: str,
        function: str,
        *,
        token: str | None,
        body: Any = None,
        raw: bytes | None = None,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> TestResponse:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (None if body is None else json.dumps(body, default=str))
        if data is not None:
            all_headers.setdefault("Content-Type", "application/json")
        client = function_app(function).test_client()
        return client.open("/", method=method, data=data, query_string=query, headers=all_headers)

    def post(
        self, function: str, body: Any = None, *, token: str | None = None, **kw: Any
    ) -> TestResponse:
        return self.call("POST", function, token=token, body=body, **kw)

    def act(
        self,
        function: str,
        conversation_id: Any,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> TestResponse:
        """POST `function` for one conversation with `fields`, as the attendant unless `token`
        names another caller."""
        body = {"conversation_id": str(conversation_id), **fields}
        caller = self.attendant if token is None else token
        return self.post(function, body, token=caller, headers=headers)

    def hand_over(
        self, conversation_id: Any, agent_id: str = "support-bot", **fields: Any
    ) -> TestResponse:
        """The AI's handoff: pause-activate by the service, naming the agent that hands over."""
        return self.act(
            "pause-activate", conversation_id, agent_id=agent_id, token=self.service, **fields
        )

    def get(self, function: str, *, token: str | None = None, **query: Any) -> TestResponse:
        return self.call("GET", function, token=token, query={k: str(v) for k, v in query.items()})

    def put(self, function: str, body: Any, *, token: str | None = None) -> TestResponse:
        return self.call("PUT", function, token=token, body=body)


def ok(answer: TestResponse) -> dict[str, Any]:
    """The answer's body, once it is a 200."""
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body: dict[str, Any] = answer.get_json()
    return body


def put_settings(api: Api, body: dict[str, Any], token: str) -> dict[str, Any]:
    """pause-settings' PUT with `body`, answered 200: the settings it answers."""
    return ok(api.put("pause-settings", body, token=token))


def error_of(answer: TestResponse) -> dict[str, Any]:
    """The answer's error, checked for the contract's shape: `{"error": {"code", "message",
    "details"}}` as JSON, with a message to read."""
    assert answer.mimetype == "application/json"
    body = answer.get_json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert {"code", "message", "details"} <= set(error)
    assert isinstance(error["message"], str)
    assert error["message"]
    return error


def assert_refused(answer: TestResponse, status: int, code: str) -> dict[str, Any]:
    """The call was refused with this status and error code, in the error shape: the error."""
    assert answer.status_code == status, answer.get_data(as_text=True)
    error = error_of(answer)
    assert error["code"] == code
    return error


def log_rows(
    db: psycopg.Connection[Any], conversation_id: UUID | None = None
) -> list[dict[str, Any]]:
    """The ai_pause_logs rows, oldest first, as plain values."""
    query = (
        "select id, conversation_id::text, action::text, reason, duration_minutes, triggered_by,"
        " previous_ai_mode::text, new_ai_mode::text, message_id"
        " from ai_pause_logs"
        " where %(conversation)s::uuid is null or conversation_id = %(conversation)s"
        " order by id"
    )
    with db.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        return cursor.execute(query, {"conversation": conversation_id}).fetchall()


def auto_resumed(conversation_id: UUID, duration_minutes: int) -> dict[str, Any]:
    """The log row (but its id and time) of a pause whose timer ran out."""
    return {
        "conversation_id": str(conversation_id),
        "action": "auto_resume",
        "reason": "timer_expired",
        "duration_minutes": duration_minutes,
        "triggered_by": "system",
        "previous_ai_mode": "paused",
        "new_ai_mode": "active",
        "message_id": None,
    }


def human_replied(
    action: str,
    minutes: int | None,
    by: str,
    conversation_id: UUID = demo.FIRST_CONVERSATION_ID,
    **rest: Any,
) -> dict[str, Any]:
    """The log row (but its id) of a human's reply that paused, extended or resumed."""
    previous = "active" if action == "pause_activated" else "paused"
    return {
        "conversation_id": str(conversation_id),
        "action": action,
        "reason": "human_replied",
        "duration_minutes": minutes,
        "triggered_by": by,
        "previous_ai_mode": previous,
        "new_ai_mode": "active" if action in ("auto_resume", "force_resume") else "paused",
        "message_id": None,
    } | rest


def actions(db: psycopg.Connection[Any]) -> list[str]:
    """The log's actions, oldest first."""
    return [row["action"] for row in log_rows(db)]


def conversation(db: psycopg.Connection[Any], conversation_id: UUID) -> dict[str, Any]:
    with db.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        row = cursor.execute(
            "select ai_mode::text, paused_at, paused_until, paused_by, pause_duration_minutes"
            " from conversations where id = %s",
            (conversation_id,),
        ).fetchone()
    assert row is not None
    return row


def expire(db: psycopg.Connection[Any], conversation_id: UUID) -> None:
    """Move a pause into the past, as if its timer had run out a minute ago."""
    db.execute(
        "update conversations"
        " set paused_at = paused_at - (paused_until - paused_at) - interval '1 minute',"
        " paused_until = paused_until - (paused_until - paused_at) - interval '1 minute'"
        " where id = %s and paused_until is not null",
        (conversation_id,),
    )


def age_pause(db: psycopg.Connection[Any], conversation_id: UUID, minutes: int) -> None:
    """Move the running pause `minutes` into the past, keeping its length."""
    db.execute(
        "update conversations set paused_at = paused_at - make_interval(mins => %s),"
        " paused_until = paused_until - make_interval(mins => %s) where id = %s",
        (minutes, minutes, conversation_id),
    )


def pause_live_and_expired(api: Api, db: psycopg.Connection[Any], live: Any, expired: Any) -> None:
    """The attendant's 60-minute pause on `live`, and a 15-minute one on `expired` whose
    timer ran out a minute ago: any call that touches `expired` would write its auto_resume."""
    for conversation_id, minutes in ((live, 60), (expired, 15)):
        answer = api.act("pause-activate", conversation_id, duration_minutes=minutes)
        assert answer.status_code == 200
    expire(db, expired)


def snapshot(db: psycopg.Connection[Any]) -> tuple[Any, ...]:
    """Everything a refused call must leave as it was."""
    return tuple(
        db.execute(query).fetchall()
        for query in (
            "select * from conversations order by id",
            "select * from ai_pause_logs order by id",
            "select * from workspaces order by id",
            "select * from teams order by id",
            "select * from workspace_members order by workspace_id, user_id",
            "select * from idempotency_keys order by scope, key",
            "select * from webhook_endpoints order by id",
            "select * from webhook_deliveries order by id",
            "select * from webhook_outbox order by log_id",
            "select * from blocked_drafts order by conversation_id, event_id",
            "select * from takeover_private.human_replies order by conversation_id, message_id",
        )
    )


def set_request_role(
    connection: psycopg.Connection[Any], role: str, claims: dict[str, Any]
) -> None:
    """What PostgREST does at the start of a request's transaction: the JWT's role for the
    transaction, and its claims where `auth.uid()` reads them."""
    connection.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
    connection.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))


def lock_waiters(
    db: psycopg.Connection[Any], *, event: str | None = None, any_database: bool = False
) -> list[int]:
    """The backends waiting on a lock (of the kind `event` names, e.g. 'advisory', when
    given) in `db`'s database, or in any of the server's: their pids."""
    rows = db.execute(
        "select pid from pg_stat_activity where wait_event_type = 'Lock'"
        " and (%(event)s::text is null or wait_event = %(event)s)"
        " and (%(any_database)s or datname = current_database())",
        {"event": event, "any_database": any_database},
    ).fetchall()
    return [int(pid) for (pid,) in rows]


Found = TypeVar("Found")


def wait_until(condition: Callable[[], Found], seconds: float, never: str) -> Found:
    """`condition`'s first truthy value, asked every 20 ms; AssertionError(`never`) once
    `seconds` have passed without one."""
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        if time.monotonic() >= deadline:
            raise AssertionError(never)
        time.sleep(0.02)
    return found
