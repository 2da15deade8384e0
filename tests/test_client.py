"""takeover_client against the real local server (functions over the test database), and
against real receivers: every operation, the URL forms of each deploy, check(), the gate
failing closed, safe retries, verified deliveries, and the client kept in step with the
OpenAPI document. Misbehaving servers: tests/test_client_promises.py."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, get_args

import httpx
import psycopg
import pytest
import takeover_client
from takeover_client import (
    AsyncTakeoverClient,
    BlockedDraft,
    Decision,
    PausesBySource,
    RetryPolicy,
    Status,
    TakeoverClient,
    TakeoverError,
    TakeoverUnavailable,
    TeamSetting,
    WebhookVerificationError,
    verify_webhook,
)
from takeover_client import _requests as client_requests
from takeover_client.webhooks import EVENT_TYPES
from werkzeug.wrappers import Response

from functions.database.instance import use_database
from functions.database.postgres import PostgresDatabase
from functions.local import demo
from functions.local.server import create_app
from tests.conftest import SetEnv
from tests.contract import OPENAPI
from tests.local_http import LocalServer, Quiet, serving
from tests.receivers import receiver
from tests.support import (
    JWT_SECRET,
    Api,
    age_pause,
    function_app,
    human_replied,
    log_rows,
    snapshot,
)

C1 = demo.FIRST_CONVERSATION_ID  # in Support, which inherits the workspace's 30 minutes
WORKSPACE = demo.WORKSPACE_ID
ATTENDANT = str(demo.ATTENDANT_ID)
FAST = RetryPolicy(attempts=3, backoff=0.05, max_wait=0.5)
ROOT = Path(__file__).resolve().parent.parent
FUNCTION_NAMES = sorted(
    path.removeprefix("/functions/v1/")
    for path in OPENAPI["paths"]
    if path.startswith("/functions/v1/")
)


@pytest.fixture
def server(api: Api) -> Iterator[str]:
    """The local server (every function at /functions/v1/<name>) on the test's database."""
    with serving(create_app()) as url:
        yield url


def by_target(environ: dict[str, Any], start_response: Any) -> Any:
    """Each function as Cloud Run functions deploys it, its own functions-framework app at
    https://REGION-PROJECT.cloudfunctions.net/<target>."""
    target = environ["PATH_INFO"].strip("/")
    name = target.replace("_", "-")
    if name not in FUNCTION_NAMES:
        return Response("not a function", status=404)(environ, start_response)
    environ = {**environ, "SCRIPT_NAME": f"/{target}", "PATH_INFO": "/"}
    return function_app(name)(environ, start_response)


@pytest.fixture
def per_function(api: Api) -> Iterator[str]:
    """Every function at its own URL (by_target): the host's URL."""
    with serving(by_target) as url:
        yield url


@pytest.fixture
def client(server: str, api: Api) -> Iterator[TakeoverClient]:
    with TakeoverClient(server, api.service, retry=FAST) as takeover:
        yield takeover


# ---------------------------------------------------------------------------------------
# The agent's gate
# ---------------------------------------------------------------------------------------


def test_the_gate_allows_refuses_and_a_refused_message_stays_refused(
    client: TakeoverClient, db: psycopg.Connection[Any]
) -> None:
    assert client.gate(C1, "m-1", "bot").allowed is True
    state = client.pause(C1, 15, reason="VIP")
    assert state.ai_mode == "paused"
    assert state.duration_minutes == 15
    refused = client.gate(C1, "m-2", "bot")
    assert refused.allowed is False
    assert refused.reason == "paused"
    assert refused.paused_until == state.paused_until
    assert client.gate(C1, "m-2", "bot").event_id == refused.event_id
    assert client.resume(C1).ai_mode == "active"
    assert client.gate(C1, "m-2", "bot").allowed is False  # still refused
    assert client.gate(C1, "m-3", "bot").allowed is True
    actions = [row["action"] for row in log_rows(db, C1)]
    assert actions == ["pause_activated", "interaction_blocked", "force_resume"]


def test_record_blocked_is_deduplicated_and_refused_when_not_paused(
    client: TakeoverClient,
) -> None:
    with pytest.raises(TakeoverError) as refused:
        client.record_blocked(C1, "m-1")
    assert refused.value.code == "not_paused"
    client.pause(C1)
    first = client.record_blocked(C1, "m-1", "bot", reason="knew from Realtime")
    assert client.record_blocked(C1, "m-1", "bot") == first


def test_the_gate_warns_when_it_refuses_for_anything_but_a_pause(
    client: TakeoverClient, server: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="takeover_client")
    client.pause(C1)
    assert client.gate(C1, "m-1").reason == "paused"
    assert caplog.records == []  # a pause is the gate working, not a problem

    with TakeoverClient(server, demo.attendant_token(JWT_SECRET, demo.ATTENDANT_ID)) as wrong:
        decision = wrong.gate(C1, "m-2")
    assert (decision.allowed, decision.reason, decision.error) == (False, "refused", "service_only")
    (warning,) = caplog.records
    assert warning.levelno == logging.WARNING
    assert warning.name == "takeover_client"
    assert "do not send (refused)" in warning.getMessage()
    assert "not an attendant's token" in warning.getMessage()


def test_the_gate_fails_closed_when_the_database_is_down(
    server: str, api: Api, setenv: SetEnv, caplog: pytest.LogCaptureFixture
) -> None:
    setenv(DATABASE_TIMEOUT_SECONDS="0.5")
    unreachable = PostgresDatabase("postgresql://postgres@127.0.0.1:9/none")
    previous = use_database(unreachable)
    try:
        policy = RetryPolicy(attempts=2, backoff=0.01, max_wait=0.3)
        with TakeoverClient(server, api.service, retry=policy) as takeover:
            started = time.monotonic()
            decision = takeover.gate(C1, "m-1", "bot")
            elapsed = time.monotonic() - started
    finally:
        use_database(previous)
        unreachable.close()
    assert decision.allowed is False
    assert decision.reason == "unavailable"
    assert decision.error == "database_unavailable"
    assert elapsed >= 0.3  # Retry-After (2 s) was honoured, capped at max_wait
    assert "do not send (unavailable)" in caplog.text


def test_the_gate_fails_closed_on_a_timeout_and_a_refused_connection(api: Api) -> None:
    with receiver(hang=threading.Event()) as stuck:
        base = stuck.url.removesuffix("/hook")
        policy = RetryPolicy(attempts=2, backoff=0.01)
        with TakeoverClient(base, api.service, timeout=0.5, retry=policy) as takeover:
            decision = takeover.gate(C1, "m-1")
        assert (decision.allowed, decision.reason, decision.error) == (
            False,
            "unavailable",
            "timeout",
        )
    with TakeoverClient("http://127.0.0.1:9", api.service, retry=policy) as takeover:
        decision = takeover.gate(C1, "m-1")
    assert (decision.allowed, decision.reason, decision.error) == (
        False,
        "unavailable",
        "connection_failed",
    )


def test_both_kinds_of_service_key_are_sent_as_supabase_expects() -> None:
    with receiver(status=503) as hooks:
        base = hooks.url.removesuffix("/hook")
        policy = RetryPolicy(attempts=1)
        with TakeoverClient(base, "sb_secret_abc", retry=policy) as takeover:
            takeover.gate(C1, "m-1")
        with TakeoverClient(base, "eyJhbGciOi.x.y", retry=policy) as takeover:
            takeover.gate(C1, "m-1")
        opaque, jwt_key = hooks.wait_for(2)
    assert opaque.headers["apikey"] == "sb_secret_abc"
    assert opaque.headers["authorization"] == "Bearer sb_secret_abc"
    assert "apikey" not in jwt_key.headers
    assert jwt_key.headers["authorization"] == "Bearer eyJhbGciOi.x.y"
    assert json.loads(jwt_key.body) == {
        "conversation_id": str(C1),
        "message_id": "m-1",
        "agent_id": "ai_agent",
    }


# ---------------------------------------------------------------------------------------
# check(): a misconfigured agent finds out at start
# ---------------------------------------------------------------------------------------


def test_check_passes_for_the_service_key_and_writes_nothing(
    server: str, api: Api, db: psycopg.Connection[Any]
) -> None:
    before = snapshot(db)
    with TakeoverClient(server, api.service) as takeover:
        takeover.check()  # raises on anything but Takeover's 404 for the unknown conversation
        takeover.check(agent_id="support-bot")
    assert snapshot(db) == before


def misconfigured(url: str, key: str) -> TakeoverError:
    with TakeoverClient(url, key, retry=FAST) as takeover, pytest.raises(TakeoverError) as raised:
        takeover.check()
    return raised.value


def test_check_says_an_attendant_token_is_not_the_service_key(server: str, api: Api) -> None:
    error = misconfigured(server, api.attendant)
    assert (error.status, error.code) == (403, "service_only")
    assert "the agent needs the service key, not an attendant's token" in error.message


def test_check_says_a_key_of_another_project_is_refused(server: str) -> None:
    error = misconfigured(server, demo.service_token("another-projects-secret-" + "x" * 32))
    assert (error.status, error.code) == (401, "invalid_token")
    assert "Takeover refused the key" in error.message


def test_check_says_a_deployment_that_cannot_verify_keys_is_misconfigured(
    server: str, api: Api, setenv: SetEnv
) -> None:
    setenv(SUPABASE_JWT_SECRET=None)
    error = misconfigured(server, api.service)
    assert (error.status, error.code) == (500, "server_misconfigured")
    assert "Takeover's deployment is misconfigured" in error.message


def test_check_says_a_url_that_is_not_takeovers_gate(server: str, api: Api) -> None:
    with receiver(status=404) as elsewhere:
        error = misconfigured(elsewhere.url, api.service)
    assert (error.status, error.code) == (404, "http_error")
    assert "is not Takeover's interaction-gate" in error.message
    wrong_path = misconfigured(f"{server}/v2", api.service)  # Takeover, but no such function
    assert (wrong_path.status, wrong_path.code) == (404, "not_found")
    assert "is not Takeover's interaction-gate" in wrong_path.message


def test_check_says_when_nothing_answers(api: Api) -> None:
    error = misconfigured("http://127.0.0.1:9", api.service)
    assert isinstance(error, TakeoverUnavailable)
    assert "No answer from http://127.0.0.1:9/functions/v1/interaction-gate" in error.message


# ---------------------------------------------------------------------------------------
# Where the functions are: one base URL, a template, a mapping
# ---------------------------------------------------------------------------------------


def test_a_template_with_target_reaches_one_url_per_function(per_function: str, api: Api) -> None:
    template = per_function + "/{target}"
    with TakeoverClient(template, api.service, retry=FAST) as takeover:
        takeover.check()
        assert takeover.pause(C1, 15).ai_mode == "paused"
        assert takeover.gate(C1, "m-1").reason == "paused"
        assert takeover.status(C1).duration_minutes == 15
        assert takeover.settings(WORKSPACE).workspace_id == str(WORKSPACE)


def test_a_template_with_name_and_a_mapping(server: str, per_function: str, api: Api) -> None:
    with TakeoverClient(server + "/functions/v1/{name}", api.service, retry=FAST) as takeover:
        assert takeover.pause(C1).ai_mode == "paused"
    urls = {
        "interaction-gate": per_function + "/interaction_gate",
        "pause-resume": per_function + "/pause_resume",
    }
    with TakeoverClient(urls, api.service, retry=FAST) as takeover:
        assert takeover.gate(C1, "m-1").reason == "paused"
        assert takeover.resume(C1).ai_mode == "active"
        with pytest.raises(TakeoverError) as unmapped:
            takeover.status(C1)
    assert (unmapped.value.status, unmapped.value.code) == (0, "no_url")
    with TakeoverClient({}, api.service) as nowhere:
        assert nowhere.gate(C1, "m-2") == takeover_client.Decision(False, "refused", error="no_url")


@pytest.mark.parametrize(
    "template", ["https://host/{}", "https://host/{function}", "https://host/{name"]
)
def test_a_template_without_name_or_target_is_refused_at_once(template: str) -> None:
    with pytest.raises(ValueError, match="a template takes"):
        TakeoverClient(template, "key")


# ---------------------------------------------------------------------------------------
# Every operation
# ---------------------------------------------------------------------------------------


def test_the_backend_pauses_extends_resumes_and_reads(
    client: TakeoverClient, db: psycopg.Connection[Any]
) -> None:
    default = client.pause(C1, triggered_by=demo.ATTENDANT_ID)
    assert default.duration_minutes == 30  # the effective default
    assert default.paused_by == str(demo.ATTENDANT_ID)
    extended = client.extend(C1, 15)
    assert extended.duration_minutes == 45
    as_now = dataclasses.asdict(extended) | {"event_id": None, "blocked_drafts": ()}
    assert client.status(C1) == Status(**as_now)
    indefinite = client.extend(C1, None)
    assert indefinite.paused_until is None
    assert client.resume(C1, reason="done").ai_mode == "active"
    with pytest.raises(TakeoverError) as refused:
        client.resume(C1)
    assert (refused.value.status, refused.value.code) == (409, "not_paused")
    with pytest.raises(TakeoverError) as missing:
        client.status(WORKSPACE)
    assert (missing.value.status, missing.value.code) == (404, "conversation_not_found")
    assert len(log_rows(db, C1)) == 4


def test_the_log_reads_by_page_and_iterates_over_next_cursor(
    client: TakeoverClient, db: psycopg.Connection[Any]
) -> None:
    client.pause(C1, 15)
    for n in range(4):
        client.gate(C1, f"m-{n}")
    client.resume(C1)
    rows = log_rows(db, C1)
    assert len(rows) == 6

    first = client.events(conversation_id=C1, limit=4)
    assert [event.id for event in first.events] == [row["id"] for row in rows[:4]]
    assert first.next_cursor is not None
    last = client.events(conversation_id=C1, limit=4, cursor=first.next_cursor)
    assert [event.id for event in last.events] == [row["id"] for row in rows[4:]]
    assert last.next_cursor is None

    everything = list(client.iter_events(conversation_id=C1, page_size=2))
    assert [
        {name: getattr(event, name) for name in rows[0]} for event in everything
    ] == rows  # whole rows, in order, across three pages
    assert all(event.created_at.tzinfo is not None for event in everything)
    blocked = list(client.iter_events(action="interaction_blocked", page_size=3))
    assert [event.message_id for event in blocked] == ["m-0", "m-1", "m-2", "m-3"]
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert list(client.iter_events(since=later)) == []


def test_settings_and_the_report(client: TakeoverClient) -> None:
    before = client.settings(WORKSPACE)
    assert before.default_duration_minutes == 30
    team = before.teams[0].team_id
    changed = client.change_settings(workspace_id=WORKSPACE, default_duration_minutes=60)
    assert changed.default_duration_minutes == 60
    indefinite = client.change_settings(workspace_id=WORKSPACE, default_duration_minutes=None)
    assert indefinite.default_duration_minutes is None
    overridden = client.change_settings(team_id=team, default_duration_minutes=15)
    assert [
        (t.default_duration_minutes, t.inherits) for t in overridden.teams if t.team_id == team
    ] == [(15, False)]
    inherited = client.change_settings(team_id=team, inherit=True)
    assert [t.inherits for t in inherited.teams if t.team_id == team] == [True]
    with pytest.raises(TakeoverError) as refused:
        client.change_settings(workspace_id=WORKSPACE, default_duration_minutes=45)
    assert (refused.value.status, refused.value.code) == (422, "validation_failed")

    client.pause(C1, 15)
    client.gate(C1, "m-1")
    client.resume(C1)
    report = client.report(WORKSPACE)
    assert (report.pauses, report.blocked_messages, report.resumes.force) == (1, 1, 1)
    assert report.pauses_by_source == PausesBySource(
        attendant=0, human_reply=0, ai_handoff=0, service=1
    )
    assert report.pause_minutes.count == 1
    assert report.until - report.since == timedelta(days=30)
    assert report.by_day[-1].date == report.until.date()
    with pytest.raises(TakeoverError) as too_long:
        client.report(WORKSPACE, since=report.until - timedelta(days=400), until=report.until)
    assert too_long.value.code == "window_too_long"


def test_webhook_endpoints_and_dispatch(client: TakeoverClient) -> None:
    with receiver() as hooks:
        created = client.create_webhook_endpoint(WORKSPACE, hooks.url, ["takeover.pause_activated"])
        assert created.secret is not None
        assert created.event_types == ("takeover.pause_activated",)
        listed = client.webhook_endpoints(WORKSPACE)
        assert [endpoint.id for endpoint in listed.endpoints] == [created.id]
        assert client.change_webhook_endpoint(created.id, enabled=False).enabled is False
        every_type = client.change_webhook_endpoint(created.id, event_types=None, enabled=True)
        assert (every_type.event_types, every_type.secret) == (None, None)
        rotated = client.change_webhook_endpoint(created.id, rotate_secret=True)
        assert rotated.secret not in (None, created.secret)

        state = client.pause(C1, 15)
        dispatched = client.dispatch_webhooks()
        assert (dispatched.delivered, dispatched.failed, dispatched.pending) == (1, 0, 0)
        (delivery,) = hooks.wait_for(1)
        event = verify_webhook(rotated.secret or "", delivery.body, delivery.headers)
        assert event.webhook_id == f"evt_{state.event_id}"
        detail = client.webhook_endpoint(created.id)
        assert [(d.webhook_id, d.type, d.status, d.attempts) for d in detail.recent_deliveries] == [
            (f"evt_{state.event_id}", "takeover.pause_activated", "delivered", 1)
        ]

        deleted = client.delete_webhook_endpoint(created.id)
        assert (deleted.id, deleted.deleted) == (created.id, True)
        with pytest.raises(TakeoverError) as gone:
            client.webhook_endpoint(created.id)
        assert gone.value.code == "webhook_endpoint_not_found"


def test_the_crons_calls(client: TakeoverClient, db: psycopg.Connection[Any]) -> None:
    client.pause(C1, 15)
    client.gate(C1, "m-1", draft="Here is your tracking number.")
    db.execute(
        "update conversations set paused_at = now() - interval '20 minutes',"
        " paused_until = now() - interval '5 minutes' where id = %s",
        (C1,),
    )
    db.execute("update blocked_drafts set created_at = now() - interval '25 hours'")
    swept = client.auto_resume(limit=10)
    assert (swept.resumed, swept.conversation_ids, swept.drafts_deleted) == (1, (str(C1),), 1)
    assert client.auto_resume() == takeover_client.SweepAnswer(0, (), 0)
    with pytest.raises(TakeoverError) as unconfigured:
        client.export_audit_log()
    assert (unconfigured.value.status, unconfigured.value.code) == (409, "export_not_configured")


class _LosingProxy:
    """Forwards to the server, but answers the first request 503 after the server acted:
    as if the answer had been lost on the way back."""

    def __init__(self, target: str) -> None:
        self.keys: list[str | None] = []
        proxy = self

        class Handler(Quiet, BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                proxy.keys.append(self.headers.get("Idempotency-Key"))
                answer = httpx.post(target + self.path, content=body, headers=headers)
                lost = len(proxy.keys) == 1
                self.send_response(503 if lost else answer.status_code)
                self.send_header("Retry-After", "0")
                payload = b'{"error":{"code":"lost","message":"lost"}}' if lost else answer.content
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = LocalServer(Handler)
        self.url = self._server.url

    def close(self) -> None:
        self._server.close()


def test_a_retried_pause_uses_one_idempotency_key_and_pauses_once(
    server: str, api: Api, db: psycopg.Connection[Any]
) -> None:
    with (
        closing(_LosingProxy(server)) as proxy,
        TakeoverClient(proxy.url, api.service, retry=FAST) as takeover,
    ):
        state = takeover.pause(C1, 15)
    assert len(proxy.keys) == 2
    assert proxy.keys[0] is not None
    assert proxy.keys[0] == proxy.keys[1]
    rows = log_rows(db, C1)
    assert [row["action"] for row in rows] == ["pause_activated"]
    assert state.event_id == rows[0]["id"]


# ---------------------------------------------------------------------------------------
# Human replies, the AI's drafts and its handoff
# ---------------------------------------------------------------------------------------


def test_a_human_reply_pauses_then_slides_the_end(
    client: TakeoverClient, db: psycopg.Connection[Any]
) -> None:
    first = client.human_reply(C1, "wamid-1", triggered_by=demo.ATTENDANT_ID)
    assert (first.ai_mode, first.changed, first.duration_minutes) == ("paused", True, 30)
    assert first.paused_by == ATTENDANT
    age_pause(db, C1, 10)

    echo = client.human_reply(C1, "wamid-2")  # from the phone: no attendant to name

    assert (echo.ai_mode, echo.changed, echo.paused_by) == ("paused", True, ATTENDANT)
    assert first.paused_until is not None
    assert echo.paused_until is not None
    assert echo.paused_until > first.paused_until
    assert echo.duration_minutes is not None
    assert echo.duration_minutes > 40
    assert log_rows(db, C1) == [
        {"id": first.event_id, **human_replied("pause_activated", 30, ATTENDANT)},
        {"id": echo.event_id, **human_replied("extend_pause", 30, "service")},
    ]


def test_a_human_reply_is_retried_only_with_a_message_id(
    server: str, api: Api, db: psycopg.Connection[Any]
) -> None:
    """The server dedupes by message_id: a retry after a lost answer gets the same answer and
    writes nothing. Without one, a retry would be a second reply: the call is not retried."""
    with (
        closing(_LosingProxy(server)) as proxy,
        TakeoverClient(proxy.url, api.service, retry=FAST) as takeover,
    ):
        state = takeover.human_reply(C1, "wamid-1")
        assert takeover.human_reply(C1, "wamid-1") == state
    assert len(proxy.keys) == 3  # the lost try, its retry, the call again
    assert log_rows(db, C1) == [
        {"id": state.event_id, **human_replied("pause_activated", 30, "service")}
    ]

    sales = demo.SALES_CONVERSATION_ID
    with (
        closing(_LosingProxy(server)) as proxy,
        TakeoverClient(proxy.url, api.service, retry=FAST) as takeover,
        pytest.raises(TakeoverUnavailable),
    ):
        takeover.human_reply(sales)
    assert len(proxy.keys) == 1
    assert [row["action"] for row in log_rows(db, sales)] == ["pause_activated"]


def test_a_refused_gates_draft_is_shown_by_status(
    client: TakeoverClient, db: psycopg.Connection[Any]
) -> None:
    assert client.gate(C1, "m-0", "bot", draft="Allowed, so not kept.").allowed is True
    client.pause(C1)
    # The most Takeover keeps: 8,000 characters, here of 4 bytes each in UTF-8 (12 each as
    # the ASCII escapes of httpx before 0.28, over the server's 64 KiB body cap).
    longest = "\N{GRINNING FACE}" * 8000
    first = client.gate(C1, "m-1", "bot", draft=longest)
    second = client.gate(C1, "m-2", "bot", draft="Your refund is on its way.")
    assert (first.reason, second.reason) == ("paused", "paused")
    assert first.event_id is not None
    assert second.event_id is not None

    kept = dict(db.execute("select event_id, created_at from blocked_drafts").fetchall())

    assert client.status(C1).blocked_drafts == (
        BlockedDraft(
            second.event_id, "bot", "m-2", "Your refund is on its way.", kept[second.event_id]
        ),
        BlockedDraft(first.event_id, "bot", "m-1", longest, kept[first.event_id]),
    )


@pytest.mark.parametrize(
    ("draft", "kept"),
    [
        ("", None),
        ("\x00", None),
        ("x" * 8001, "x" * 8000),
        ("a\x00b", "ab"),
        ("half a pair: \ud800", "half a pair: ?"),
    ],
    ids=["empty", "only-nul", "8001-characters", "nul", "unpaired-surrogate"],
)
def test_a_draft_takeover_would_refuse_never_changes_the_gates_answer(
    server: str,
    api: Api,
    db: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
    draft: str,
    kept: str | None,
) -> None:
    """The draft is the attendant's copy: sent as Takeover can keep it, never a 422 that
    would read as "do not send" for a message the gate allows."""

    async def ask(message_id: str) -> Decision:
        async with AsyncTakeoverClient(server, api.service, retry=FAST) as takeover:
            return await takeover.gate(C1, message_id, "bot", draft=draft)

    with TakeoverClient(server, api.service, retry=FAST) as takeover:
        assert takeover.gate(C1, "m-0", "bot", draft=draft).reason == "allowed"
        takeover.pause(C1)
        refused = [takeover.gate(C1, "m-1", "bot", draft=draft), asyncio.run(ask("m-2"))]

    assert [decision.reason for decision in refused] == ["paused", "paused"]
    drafts = db.execute("select draft from blocked_drafts order by event_id").fetchall()
    assert drafts == ([] if kept is None else [(kept,), (kept,)])
    cut = [r for r in caplog.records if "keeps its first 8,000" in r.getMessage()]
    assert len(cut) == (3 if len(draft) > 8000 else 0)


def test_a_handoff_writes_the_agent_id_as_triggered_by(
    client: TakeoverClient, server: str, api: Api, db: psycopg.Connection[Any]
) -> None:
    before = snapshot(db)
    with pytest.raises(
        ValueError, match=r"triggered_by \(an attendant\) or agent_id \(an AI agent\), not both"
    ):
        client.pause(C1, agent_id="support-bot", triggered_by=demo.ATTENDANT_ID)
    with (
        TakeoverClient(server, api.attendant, retry=FAST) as attendant,
        pytest.raises(TakeoverError) as not_theirs,
    ):
        attendant.pause(C1, agent_id="support-bot")
    assert (not_theirs.value.status, not_theirs.value.code) == (403, "agent_id_not_allowed")
    assert snapshot(db) == before

    state = client.pause(C1, agent_id="support-bot", reason="customer_asked_for_human")

    assert (state.ai_mode, state.paused_by, state.duration_minutes) == ("paused", None, 30)
    assert log_rows(db, C1) == [
        {
            "id": state.event_id,
            "conversation_id": str(C1),
            "action": "pause_activated",
            "reason": "customer_asked_for_human",
            "duration_minutes": 30,
            "triggered_by": "support-bot",
            "previous_ai_mode": "active",
            "new_ai_mode": "paused",
            "message_id": None,
        }
    ]
    assert client.report(WORKSPACE).pauses_by_source == PausesBySource(
        attendant=0, human_reply=0, ai_handoff=1, service=0
    )


def test_the_human_reply_and_draft_switches_round_trip(client: TakeoverClient) -> None:
    support = str(demo.SUPPORT_TEAM_ID)
    before = client.settings(WORKSPACE)
    assert (before.pause_on_human_reply, before.keep_blocked_drafts) == (True, True)
    assert [team.pause_on_human_reply for team in before.teams] == [None, None]

    off = client.change_settings(
        workspace_id=WORKSPACE, pause_on_human_reply=False, keep_blocked_drafts=False
    )

    assert off == dataclasses.replace(before, pause_on_human_reply=False, keep_blocked_drafts=False)
    assert client.settings(WORKSPACE) == off
    ignored = client.human_reply(C1, "wamid-1")
    assert (ignored.ai_mode, ignored.changed, ignored.event_id) == ("active", False, None)

    own = client.change_settings(
        team_id=support, default_duration_minutes=15, pause_on_human_reply=True
    )
    assert [team for team in own.teams if team.team_id == support] == [
        TeamSetting(support, "Support", 15, inherits=False, pause_on_human_reply=True)
    ]
    replied = client.human_reply(C1, "wamid-2")
    assert (replied.changed, replied.duration_minutes) == (True, 15)

    # None: the team inherits the workspace's switch again; its own duration stays.
    inheriting = client.change_settings(team_id=support, pause_on_human_reply=None)
    assert [team for team in inheriting.teams if team.team_id == support] == [
        TeamSetting(support, "Support", 15, inherits=False, pause_on_human_reply=None)
    ]
    # A duration alone leaves the switch as it is.
    longer = client.change_settings(workspace_id=WORKSPACE, default_duration_minutes=60)
    assert (longer.pause_on_human_reply, longer.keep_blocked_drafts) == (False, False)
    with pytest.raises(TakeoverError) as refused:
        client.change_settings(workspace_id=WORKSPACE, pause_on_human_reply=None)
    assert (refused.value.status, refused.value.code) == (422, "validation_failed")


def test_the_async_client(server: str, api: Api, db: psycopg.Connection[Any]) -> None:
    async def scenario() -> None:
        async with AsyncTakeoverClient(server, api.service, retry=FAST) as takeover:
            await takeover.check()
            assert (await takeover.gate(C1, "m-1")).allowed is True
            assert (await takeover.pause(C1, 15)).paused_until is not None
            assert (await takeover.gate(C1, "m-2", draft="Hello!")).allowed is False
            assert await takeover.record_blocked(C1, "m-3") > 0
            replied = await takeover.human_reply(C1, "wamid-1")  # 15 minutes left: now 30
            assert replied.changed is True
            assert replied.duration_minutes is not None
            assert replied.duration_minutes > 30
            assert (await takeover.extend(C1, None)).paused_until is None
            with pytest.raises(TakeoverError) as refused:
                await takeover.extend(C1, 15)
            assert refused.value.code == "already_indefinite"
            status = await takeover.status(C1)
            assert status.ai_mode == "paused"
            assert [(d.message_id, d.draft) for d in status.blocked_drafts] == [("m-2", "Hello!")]
            assert (await takeover.resume(C1)).ai_mode == "active"
            handoff = await takeover.pause(C1, agent_id="bot", reason="customer_asked_for_human")
            assert (handoff.ai_mode, handoff.paused_by) == ("paused", None)
            ids = [event.id async for event in takeover.iter_events(page_size=2)]
            assert ids == [row["id"] for row in log_rows(db)]
            assert log_rows(db)[-1]["triggered_by"] == "bot"
            settings = await takeover.settings(WORKSPACE)
            assert (settings.default_duration_minutes, settings.pause_on_human_reply) == (30, True)
        async with AsyncTakeoverClient("http://127.0.0.1:9", api.service, retry=FAST) as down:
            assert (await down.gate(C1, "m-4")).reason == "unavailable"
            with pytest.raises(TakeoverUnavailable):
                await down.check()

    asyncio.run(scenario())


def test_verify_webhook_accepts_real_deliveries_and_nothing_else(
    client: TakeoverClient, api: Api
) -> None:
    with receiver() as hooks:
        created = client.create_webhook_endpoint(WORKSPACE, hooks.url)
        state = client.pause(C1, 15)
        client.dispatch_webhooks()
        (delivery,) = hooks.wait_for(1)
    secret = created.secret or ""
    event = verify_webhook(secret, delivery.body, delivery.headers)
    assert event.type == "takeover.pause_activated"
    assert event.webhook_id == f"evt_{state.event_id}"
    assert event.data["conversation_id"] == str(C1)
    assert event.data["workspace_id"] == str(WORKSPACE)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, delivery.body + b" ", delivery.headers)
    with pytest.raises(WebhookVerificationError):
        verify_webhook("whsec_" + "A" * 44, delivery.body, delivery.headers)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, delivery.body, delivery.headers, now=time.time() + 600)
    headers = dict(delivery.headers)
    del headers["webhook-signature"]
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, delivery.body, headers)


# ---------------------------------------------------------------------------------------
# The client in step with the server, and standing alone
# ---------------------------------------------------------------------------------------


def _operations() -> dict[str, client_requests.Operation]:
    return {
        name: value
        for name, value in vars(client_requests).items()
        if isinstance(value, client_requests.Operation)
    }


def test_every_operation_of_the_openapi_document_has_a_client_method() -> None:
    """A new function (or method) without a client method fails here, by name."""
    documented = {
        (method.upper(), path.removeprefix("/functions/v1/"))
        for path, methods in OPENAPI["paths"].items()
        if path.startswith("/functions/v1/")
        for method in methods
    }
    covered = {(operation.method, operation.function) for operation in _operations().values()}
    assert covered == documented
    for client_class in (TakeoverClient, AsyncTakeoverClient):
        used = {
            name
            for attribute, method in vars(client_class).items()
            if not attribute.startswith("_") and callable(method)
            for name in method.__code__.co_names
        }
        assert sorted(set(_operations()) - used) == [], client_class.__name__


def _schema(reference: str) -> tuple[str, dict[str, Any]]:
    name = reference.removeprefix("#/components/schemas/")
    return name, OPENAPI["components"]["schemas"][name]


def _references(schema: dict[str, Any]) -> Iterator[str]:
    """The component schemas `schema` names, at any depth of anyOf and items."""
    if "$ref" in schema:
        yield schema["$ref"]
    for part in [*schema.get("anyOf", []), *([schema["items"]] if "items" in schema else [])]:
        yield from _references(part)


def test_every_answer_is_typed_as_the_openapi_document_says() -> None:
    """Every answer schema of every operation, at every depth, has the client type of the
    same name with the same fields (or, for an enum, the same values)."""
    pending = [
        operation["responses"]["200"]["content"]["application/json"]["schema"]
        for path, methods in OPENAPI["paths"].items()
        if path.startswith("/functions/v1/")
        for operation in methods.values()
    ]
    checked: set[str] = set()
    while pending:
        for reference in _references(pending.pop()):
            name, schema = _schema(reference)
            if name in checked:
                continue
            checked.add(name)
            if "enum" not in schema and "properties" not in schema:
                pending.append(schema)  # a union of named answers (EndpointsAnswer)
                continue
            typed = getattr(takeover_client, name, None)
            assert typed is not None, f"takeover_client has no {name}"
            if "enum" in schema:
                assert set(get_args(typed)) == set(schema["enum"]), name
                continue
            fields = {field.name for field in dataclasses.fields(typed)}
            assert fields == set(schema["properties"]), name
            pending.extend(schema["properties"].values())
    assert {"PauseState", "Report", "EndpointDetail", "Delivery", "Action"} <= checked


def test_the_clients_event_types_are_the_servers() -> None:
    """The client keeps its own list (it installs without the server): it must not drift."""
    event_types = OPENAPI["components"]["schemas"]["Endpoint"]["properties"]["event_types"]
    (listed,) = [part for part in event_types["anyOf"] if part.get("type") == "array"]
    assert frozenset(listed["items"]["enum"]) == EVENT_TYPES


def test_the_sync_client_is_generated_from_the_async_one() -> None:
    """clients/python/takeover_client/_sync/ is what unasync makes of _async/: run `make
    client` after changing the async client."""
    generator = ROOT / "clients" / "python" / "generate_sync.py"
    checked = subprocess.run(
        [sys.executable, str(generator), "--check"], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr


def test_the_client_needs_nothing_of_the_server() -> None:
    code = "import sys, takeover_client; print('\\n'.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    assert "takeover_client._sync.client" in loaded
    assert [
        m
        for m in loaded
        if m.split(".")[0] in {"functions", "pydantic", "flask", "psycopg", "unasync"}
    ] == []
    project = tomllib.loads((ROOT / "clients/python/pyproject.toml").read_text())["project"]
    # httpx, and the httpcore it is built on (the client's transport imports it).
    assert [d.split(">")[0] for d in project["dependencies"]] == ["httpx", "httpcore"]
