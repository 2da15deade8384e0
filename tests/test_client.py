"""takeover_client against the real local server (functions over the test database), and
against real receivers: the gate fails closed, retries are safe, deliveries verify."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, get_args

import httpx
import psycopg
import pytest
from takeover_client import (
    AsyncTakeoverClient,
    RetryPolicy,
    TakeoverClient,
    TakeoverError,
    WebhookVerificationError,
    verify_webhook,
)
from takeover_client.webhooks import EVENT_TYPES
from werkzeug.serving import make_server

from functions.local import demo
from functions.local.server import create_app
from functions.shared.config import config
from functions.shared.database import use_database
from functions.shared.postgres import PostgresDatabase
from functions.webhooks import events as server_events
from tests.receivers import receiver
from tests.support import Api, log_rows

C1 = demo.FIRST_CONVERSATION_ID
FAST = RetryPolicy(attempts=3, backoff=0.05, max_wait=0.5)


@pytest.fixture
def server(api: Api) -> Iterator[str]:
    """The local server (every function) on a free port, on the test's database."""
    http = make_server("127.0.0.1", 0, create_app(), threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    http.server_close()


@pytest.fixture
def client(server: str, api: Api) -> Iterator[TakeoverClient]:
    with TakeoverClient(server, api.service, retry=FAST) as takeover:
        yield takeover


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


def test_the_backend_pauses_extends_resumes_and_reads(
    client: TakeoverClient, db: psycopg.Connection[Any]
) -> None:
    default = client.pause(C1, triggered_by=demo.ATTENDANT_ID)
    assert default.duration_minutes == 30  # the effective default
    assert default.paused_by == str(demo.ATTENDANT_ID)
    extended = client.extend(C1, 15)
    assert extended.duration_minutes == 45
    assert client.status(C1) == extended.__class__(**{**extended.__dict__, "event_id": None})
    indefinite = client.extend(C1, None)
    assert indefinite.paused_until is None
    assert client.resume(C1, reason="done").ai_mode == "active"
    with pytest.raises(TakeoverError) as refused:
        client.resume(C1)
    assert refused.value.status == 409
    assert refused.value.code == "not_paused"
    unknown = demo.WORKSPACE_ID
    with pytest.raises(TakeoverError) as missing:
        client.status(unknown)
    assert missing.value.status == 404
    assert len(log_rows(db, C1)) == 4


def test_record_blocked_is_deduplicated_and_refused_when_not_paused(
    client: TakeoverClient,
) -> None:
    with pytest.raises(TakeoverError) as refused:
        client.record_blocked(C1, "m-1")
    assert refused.value.code == "not_paused"
    client.pause(C1)
    first = client.record_blocked(C1, "m-1", "bot", reason="knew from Realtime")
    assert client.record_blocked(C1, "m-1", "bot") == first


class _LosingProxy:
    """Forwards to the server, but answers the first request 503 after the server acted:
    as if the answer had been lost on the way back."""

    def __init__(self, target: str) -> None:
        self.keys: list[str | None] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
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

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"


def test_a_retried_pause_uses_one_idempotency_key_and_pauses_once(
    server: str, api: Api, db: psycopg.Connection[Any]
) -> None:
    proxy = _LosingProxy(server)
    try:
        with TakeoverClient(proxy.url, api.service, retry=FAST) as takeover:
            state = takeover.pause(C1, 15)
    finally:
        proxy.http.shutdown()
        proxy.http.server_close()
    assert len(proxy.keys) == 2
    assert proxy.keys[0] is not None
    assert proxy.keys[0] == proxy.keys[1]
    rows = log_rows(db, C1)
    assert [row["action"] for row in rows] == ["pause_activated"]
    assert state.event_id == rows[0]["id"]


def test_the_gate_fails_closed_when_the_database_is_down(
    server: str, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_TIMEOUT_SECONDS", "0.5")
    config.cache_clear()
    unreachable = PostgresDatabase("postgresql://postgres@127.0.0.1:9/none")
    previous = use_database(unreachable)
    try:
        policy = RetryPolicy(attempts=2, backoff=0.01, max_wait=0.3)
        with TakeoverClient(server, api.service, retry=policy) as takeover:
            started = time.monotonic()
            decision = takeover.gate(C1, "m-1", "bot")
            elapsed = time.monotonic() - started
            assert decision.allowed is False
            assert decision.reason == "unavailable"
            assert decision.error == "database_unavailable"
            # Retry-After (2 s) was honoured, capped at max_wait.
            assert elapsed >= 0.3
    finally:
        use_database(previous)
        unreachable.close()
        monkeypatch.undo()
        config.cache_clear()


def test_the_gate_fails_closed_on_a_timeout_and_a_refused_connection(api: Api) -> None:
    with receiver(hang=threading.Event()) as stuck:
        base = stuck.url.removesuffix("/hook")
        policy = RetryPolicy(attempts=2, backoff=0.01)
        with TakeoverClient(base, api.service, timeout=0.3, retry=policy) as takeover:
            decision = takeover.gate(C1, "m-1")
        assert decision.allowed is False
        assert decision.reason == "unavailable"
    with TakeoverClient("http://127.0.0.1:9", api.service, retry=policy) as takeover:
        assert takeover.gate(C1, "m-1").allowed is False


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


def test_the_async_client(server: str, api: Api) -> None:
    async def scenario() -> None:
        async with AsyncTakeoverClient(server, api.service, retry=FAST) as takeover:
            assert (await takeover.gate(C1, "m-1")).allowed is True
            assert (await takeover.pause(C1, 15)).paused_until is not None
            assert (await takeover.gate(C1, "m-2")).allowed is False
            assert await takeover.record_blocked(C1, "m-3") > 0
            assert (await takeover.extend(C1, None)).paused_until is None
            with pytest.raises(TakeoverError) as refused:
                await takeover.extend(C1, 15)
            assert refused.value.code == "already_indefinite"
            assert (await takeover.status(C1)).ai_mode == "paused"
            assert (await takeover.resume(C1)).ai_mode == "active"
        async with AsyncTakeoverClient("http://127.0.0.1:9", api.service, retry=FAST) as down:
            assert (await down.gate(C1, "m-4")).allowed is False

    asyncio.run(scenario())


def test_verify_webhook_accepts_real_deliveries_and_nothing_else(
    client: TakeoverClient, api: Api
) -> None:
    with receiver() as hooks:
        created = api.post(
            "webhook-endpoints",
            {"workspace_id": str(demo.WORKSPACE_ID), "url": hooks.url},
            token=api.admin,
        ).get_json()
        state = client.pause(C1, 15)
        api.post("webhook-dispatch", {}, token=api.service)
        (delivery,) = hooks.wait_for(1)
    event = verify_webhook(created["secret"], delivery.body, delivery.headers)
    assert event.type == "takeover.pause_activated"
    assert event.webhook_id == f"evt_{state.event_id}"
    assert event.data["conversation_id"] == str(C1)
    assert event.data["workspace_id"] == str(demo.WORKSPACE_ID)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(created["secret"], delivery.body + b" ", delivery.headers)
    with pytest.raises(WebhookVerificationError):
        verify_webhook("whsec_" + "A" * 44, delivery.body, delivery.headers)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(created["secret"], delivery.body, delivery.headers, now=time.time() + 600)
    headers = dict(delivery.headers)
    del headers["webhook-signature"]
    with pytest.raises(WebhookVerificationError):
        verify_webhook(created["secret"], delivery.body, headers)


def test_the_client_needs_nothing_of_the_server() -> None:
    code = "import sys, takeover_client; print('\\n'.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    assert "takeover_client" in loaded
    assert [
        m for m in loaded if m.split(".")[0] in {"functions", "pydantic", "flask", "psycopg"}
    ] == []
    project = tomllib.loads(Path("clients/python/pyproject.toml").read_text())["project"]
    assert [d.split(">")[0] for d in project["dependencies"]] == ["httpx"]


def test_the_clients_event_types_are_the_servers() -> None:
    """The client keeps its own list (it installs without the server): it must not drift."""
    assert frozenset(get_args(server_events.EventType)) == EVENT_TYPES
