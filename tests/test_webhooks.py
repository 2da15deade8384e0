"""Webhooks: endpoints managed by admins, events queued with their log rows, delivered by
Standard Webhooks to real receivers on loopback, retried on the contract's schedule."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from takeover_client import webhooks as client_webhooks

from functions.database.instance import database
from functions.database.interface import Database
from functions.local import demo
from functions.shared.errors import Unavailable, database_unavailable
from functions.shared.models import ONCE, CallOptions
from functions.webhooks.dispatcher import LEASES_PER_WORKSPACE, THREADS, Dispatcher
from functions.webhooks.events import EVENT_TYPES, payload_models
from functions.webhooks.signing import sign
from functions.webhooks.url_policy import ResolutionTimeout, resolve
from tests.conftest import SetEnv
from tests.receivers import Received, receiver
from tests.support import Api, assert_refused, expire

C1 = demo.FIRST_CONVERSATION_ID
C2 = UUID("7a1c0000-0000-4000-8000-0000000000c2")
WORKSPACE = demo.WORKSPACE_ID


def subscribe(
    api: Api, url: str, *, workspace: UUID = WORKSPACE, token: str | None = None, **fields: Any
) -> dict[str, Any]:
    answer = api.post(
        "webhook-endpoints",
        {"workspace_id": str(workspace), "url": url} | fields,
        token=token or api.admin,
    )
    assert answer.status_code == 200, answer.get_json()
    endpoint: dict[str, Any] = answer.get_json()
    return endpoint


def dispatch(api: Api, limit: int | None = None) -> dict[str, Any]:
    answer = api.post(
        "webhook-dispatch", {} if limit is None else {"limit": limit}, token=api.service
    )
    assert answer.status_code == 200, answer.get_json()
    result: dict[str, Any] = answer.get_json()
    return result


def verified(secret: str, delivery: Received) -> dict[str, Any]:
    """The delivery as the standardwebhooks package verifies it (not our code)."""
    payload: dict[str, Any] = Webhook(secret).verify(delivery.body, delivery.headers)
    return payload


def activate(api: Api, conversation: UUID = C1, **fields: Any) -> dict[str, Any]:
    answer = api.post(
        "pause-activate", {"conversation_id": str(conversation)} | fields, token=api.attendant
    )
    assert answer.status_code == 200, answer.get_json()
    state: dict[str, Any] = answer.get_json()
    return state


def deliveries(db: psycopg.Connection[Any], endpoint_id: str) -> list[dict[str, Any]]:
    with db.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        return cursor.execute(
            "select id, webhook_id, type, status, attempts, last_status_code, last_error,"
            " next_attempt_at, now() as now from webhook_deliveries"
            " where endpoint_id = %s order by id",
            (endpoint_id,),
        ).fetchall()


def end_in(db: psycopg.Connection[Any], conversation: UUID, minutes: float) -> None:
    """Move the pause's end to `minutes` from now, keeping its duration."""
    db.execute(
        "update conversations set paused_at = now() + make_interval(secs => %s)"
        " - make_interval(mins => pause_duration_minutes),"
        " paused_until = now() + make_interval(secs => %s) where id = %s",
        (minutes * 60, minutes * 60, conversation),
    )


# ---------------------------------------------------------------------------------------
# Endpoint management
# ---------------------------------------------------------------------------------------


def test_an_admin_subscribes_an_endpoint_and_sees_its_secret_once(api: Api) -> None:
    endpoint = subscribe(api, "https://hooks.example.com/takeover")
    assert endpoint["secret"].startswith("whsec_")
    assert len(base64.b64decode(endpoint["secret"].removeprefix("whsec_"))) >= 24
    assert endpoint["event_types"] is None
    assert endpoint["enabled"] is True
    assert endpoint["workspace_id"] == str(WORKSPACE)

    listed = api.get("webhook-endpoints", token=api.admin, workspace_id=WORKSPACE).get_json()
    assert [e["id"] for e in listed["endpoints"]] == [endpoint["id"]]
    assert "secret" not in listed["endpoints"][0]
    one = api.get("webhook-endpoints", token=api.admin, id=endpoint["id"]).get_json()
    assert "secret" not in one
    assert one["recent_deliveries"] == []

    changed = api.put(
        "webhook-endpoints",
        {"id": endpoint["id"], "event_types": ["takeover.force_resume"], "enabled": False},
        token=api.admin,
    ).get_json()
    assert "secret" not in changed
    assert changed["event_types"] == ["takeover.force_resume"]
    assert changed["enabled"] is False
    # Absent event_types keeps them; null subscribes to every type.
    kept = api.put("webhook-endpoints", {"id": endpoint["id"]}, token=api.admin).get_json()
    assert kept["event_types"] == ["takeover.force_resume"]
    reset = api.put(
        "webhook-endpoints", {"id": endpoint["id"], "event_types": None}, token=api.admin
    ).get_json()
    assert reset["event_types"] is None

    rotated = api.put(
        "webhook-endpoints", {"id": endpoint["id"], "rotate_secret": True}, token=api.admin
    ).get_json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != endpoint["secret"]

    deleted = api.call("DELETE", "webhook-endpoints", token=api.admin, body={"id": endpoint["id"]})
    assert deleted.get_json() == {"id": endpoint["id"], "deleted": True}
    gone = api.get("webhook-endpoints", token=api.admin, id=endpoint["id"])
    assert_refused(gone, 404, "webhook_endpoint_not_found")


def test_only_admins_and_the_service_manage_endpoints(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    body = {"workspace_id": str(WORKSPACE), "url": "https://hooks.example.com/a"}
    refused = api.post("webhook-endpoints", body, token=api.attendant)
    assert_refused(refused, 403, "admin_only")
    outsider = api.post("webhook-endpoints", body, token=api.outsider)
    assert_refused(outsider, 404, "workspace_not_found")
    assert db.execute("select count(*) from webhook_endpoints").fetchone() == (0,)

    by_service = api.post("webhook-endpoints", body, token=api.service)
    assert by_service.status_code == 200
    endpoint_id = by_service.get_json()["id"]
    for token, status in ((api.attendant, 403), (api.outsider, 404), (api.service, 200)):
        assert api.get("webhook-endpoints", token=token, id=endpoint_id).status_code == status
        assert (
            api.get("webhook-endpoints", token=token, workspace_id=WORKSPACE).status_code == status
        )
        changed = api.put("webhook-endpoints", {"id": endpoint_id, "enabled": True}, token=token)
        assert changed.status_code == status
    for token, status in ((api.attendant, 403), (api.outsider, 404)):
        deleted = api.call("DELETE", "webhook-endpoints", token=token, body={"id": endpoint_id})
        assert deleted.status_code == status
    assert db.execute("select count(*) from webhook_endpoints").fetchone() == (1,)
    unknown = api.get("webhook-endpoints", token=api.service, id=demo.WORKSPACE_ID)
    assert unknown.status_code == 404
    assert api.post("webhook-dispatch", {}, token=api.attendant).status_code == 403
    assert api.get("webhook-endpoints", token=api.admin).status_code == 422


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/a",
        "ftp://hooks.example.com/a",
        "https://user:pass@hooks.example.com/a",
        "https://hooks.example.com/" + "a" * 2030,
        "https://127.0.0.1/a",
        "https://10.1.2.3/a",
        "https://192.168.0.10/a",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/a",
        "https://[::ffff:127.0.0.1]/a",
        "https://[::127.0.0.1]/a",  # IPv4-compatible
        "https://[64:ff9b::a9fe:a9fe]/a",  # NAT64 of 169.254.169.254
        "https://[2002:a9fe:a9fe::]/a",  # 6to4 of 169.254.169.254
        "https://[2001:0:4136:e378:8000:63bf:f5fe:fefe]/a",  # Teredo, client 10.1.1.1
        "https://[::ffff:0:7f00:1]/a",  # IPv4-translated 127.0.0.1
        "https://[::ffff:0:a9fe:a9fe]/a",  # IPv4-translated 169.254.169.254
        "https://[fec0::1]/a",  # deprecated site-local
        "https://224.0.0.1/a",  # multicast
        "https://239.255.255.250/a",
        "https://[ff02::1]/a",
        "https://[ff0e::1]/a",  # global-scope multicast is still multicast
        "https://0.0.0.0/a",  # unspecified
        "https://[::]/a",
        "https://240.0.0.1/a",  # reserved
        "https://255.255.255.255/a",  # broadcast
        "https://[4000::1]/a",  # IPv6 outside 2000::/3, the global unicast space
        "https://[5f00::1]/a",
        "https://192.0.2.1/a",  # documentation
        "https://[2001:db8::1]/a",
        "https://100.64.0.1/a",  # shared address space (CGNAT)
        "https://[64:ff9b:1::a9fe:a9fe]/a",  # local-use NAT64
        "https://localhost/a",
        "https://hooks.localhost/a",
        "https://hooks.example.com:99999/a",
        "not a url",
    ],
)
def test_urls_we_must_not_send_to_are_refused(
    api: Api, db: psycopg.Connection[Any], setenv: SetEnv, url: str
) -> None:
    setenv(WEBHOOKS_ALLOW_PRIVATE_URLS="0")
    answer = api.post(
        "webhook-endpoints", {"workspace_id": str(WORKSPACE), "url": url}, token=api.admin
    )
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["error"]["code"] in {"invalid_url", "validation_failed"}
    if not url.endswith("a" * 2030):
        assert answer.get_json()["error"]["code"] == "invalid_url"
    assert db.execute("select count(*) from webhook_endpoints").fetchone() == (0,)


@pytest.mark.parametrize(
    "url",
    [
        "https://8.8.8.8/a",
        "https://[2606:4700:4700::1111]/a",
        # The IPv6 forms that reach an IPv4 address are judged by that address.
        "https://[::ffff:8.8.8.8]/a",
        "https://[::ffff:0:808:808]/a",  # IPv4-translated
        "https://[64:ff9b::808:808]/a",  # NAT64
        "https://[2002:808:808::1]/a",  # 6to4
    ],
)
def test_global_unicast_addresses_are_accepted(api: Api, setenv: SetEnv, url: str) -> None:
    setenv(WEBHOOKS_ALLOW_PRIVATE_URLS="0")
    assert subscribe(api, url)["url"] == url


def test_private_urls_and_http_only_where_allowed(api: Api, setenv: SetEnv) -> None:
    setenv(WEBHOOKS_ALLOW_PRIVATE_URLS="1")
    assert subscribe(api, "http://127.0.0.1:9/hook")["url"] == "http://127.0.0.1:9/hook"
    refused = api.post(
        "webhook-endpoints",
        {"workspace_id": str(WORKSPACE), "url": "ftp://127.0.0.1/a"},
        token=api.admin,
    )
    assert refused.get_json()["error"]["code"] == "invalid_url"
    bad_type = api.post(
        "webhook-endpoints",
        {"workspace_id": str(WORKSPACE), "url": "https://a.example", "event_types": ["nope"]},
        token=api.admin,
    )
    assert bad_type.status_code == 422


def test_event_types_are_stored_once_each_in_the_contracts_order(api: Api) -> None:
    endpoint = subscribe(
        api,
        "https://hooks.example.com/a",
        event_types=[
            "takeover.force_resume",
            "takeover.pause_activated",
            "takeover.force_resume",
            "takeover.pause_activated",
        ],
    )
    assert endpoint["event_types"] == ["takeover.pause_activated", "takeover.force_resume"]
    changed = api.put(
        "webhook-endpoints",
        {"id": endpoint["id"], "event_types": ["takeover.pause_expiring"] * 3},
        token=api.admin,
    )
    assert changed.get_json()["event_types"] == ["takeover.pause_expiring"]
    listed = api.get("webhook-endpoints", token=api.admin, id=endpoint["id"]).get_json()
    assert listed["event_types"] == ["takeover.pause_expiring"]


# ---------------------------------------------------------------------------------------
# Deliveries
# ---------------------------------------------------------------------------------------


def test_every_log_event_is_delivered_signed_with_the_logged_event_as_data(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    with receiver() as hooks:
        endpoint = subscribe(api, hooks.url)
        first = activate(api, reason="VIP")
        api.act("interaction-gate", C1, message_id="m-1", agent_id="bot", token=api.service)
        extended = api.act("pause-extend", C1, duration_minutes=15).get_json()
        api.act("pause-resume", C1)
        second = activate(api)
        expire(db, C1)
        api.post("auto-resume", {}, token=api.service)

        result = dispatch(api)
        assert result == {"delivered": 6, "failed": 0, "pending": 0}
        received = hooks.wait_for(6)

    events = api.get("pause-logger", token=api.service, conversation_id=C1).get_json()["events"]
    assert [r.headers["webhook-id"] for r in received] == [f"evt_{e['id']}" for e in events]
    payloads = [verified(endpoint["secret"], r) for r in received]
    assert [p["type"] for p in payloads] == [
        "takeover.pause_activated",
        "takeover.interaction_blocked",
        "takeover.extend_pause",
        "takeover.force_resume",
        "takeover.pause_activated",
        "takeover.auto_resume",
    ]
    # The conversation's mode and pause end right after each event.
    ends = [first, first, extended, None, second, None]
    for payload, event, end in zip(payloads, events, ends, strict=True):
        assert payload["data"] == event | {
            "workspace_id": str(WORKSPACE),
            "team_id": str(demo.SUPPORT_TEAM_ID),
            "ai_mode": event["new_ai_mode"],
            "paused_until": end and end["paused_until"],
        }
        assert payload["timestamp"] == event["created_at"]
    assert received[0].headers["content-type"] == "application/json"
    assert all(d["status"] == "delivered" for d in deliveries(db, endpoint["id"]))
    # Delivered once: another run sends nothing.
    assert dispatch(api) == {"delivered": 0, "failed": 0, "pending": 0}
    assert len(hooks.received) == 6


def test_every_delivery_is_the_body_the_openapi_document_describes(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    """Each type's body validates against its model in openapi.json's webhooks, with no
    field more or less in its data: the SQL that builds it and the document agree."""
    with receiver() as hooks:
        subscribe(api, hooks.url)
        activate(api)
        api.act("interaction-gate", C1, message_id="m-1", token=api.service)
        api.act("pause-extend", C1, duration_minutes=15)
        end_in(db, C1, 2)  # within the notice's lead
        dispatch(api)
        dispatch(api)
        api.act("pause-resume", C1)
        activate(api)
        expire(db, C1)
        api.post("auto-resume", {}, token=api.service)
        dispatch(api)
        received = hooks.wait_for(7)

    bodies = [json.loads(delivery.body) for delivery in received]
    assert {body["type"] for body in bodies} == set(EVENT_TYPES)
    for body in bodies:
        model = payload_models()[body["type"]]
        data = model.model_validate(body).data
        assert set(body) == set(model.model_fields)
        assert set(body["data"]) == set(type(data).model_fields), body["type"]


def test_human_replies_and_handoffs_are_delivered_and_drafts_never_are(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    draft = "Your refund was approved: 42 EUR within 3 days."
    with receiver() as hooks:
        endpoint = subscribe(api, hooks.url)
        first = api.act("human-reply", C1, message_id="wamid.1").get_json()
        api.act("interaction-gate", C1, message_id="m-1", draft=draft, token=api.service)
        end_in(db, C1, 5)  # the next reply slides the end
        slid = api.act("human-reply", C1, message_id="wamid.2", token=api.service).get_json()
        handed = api.hand_over(C2, reason="customer_asked_for_human").get_json()

        assert dispatch(api) == {"delivered": 4, "failed": 0, "pending": 0}
        received = hooks.wait_for(4)

    events = api.get("pause-logger", token=api.service).get_json()["events"]
    assert [(e["action"], e["reason"], e["triggered_by"]) for e in events] == [
        ("pause_activated", "human_replied", str(demo.ATTENDANT_ID)),
        ("interaction_blocked", None, "ai_agent"),
        ("extend_pause", "human_replied", "service"),
        ("pause_activated", "customer_asked_for_human", "support-bot"),
    ]
    payloads = [verified(endpoint["secret"], r) for r in received]
    # The blocked send came after the first reply, and before the end was moved.
    ends = [first, first, slid, handed]
    for payload, event, end in zip(payloads, events, ends, strict=True):
        assert payload["type"] == f"takeover.{event['action']}"
        assert payload["data"] == event | {
            "workspace_id": str(WORKSPACE),
            "team_id": str(demo.SUPPORT_TEAM_ID),
            "ai_mode": "paused",
            "paused_until": end["paused_until"],
        }
    assert not [r.body for r in received if b"refund" in r.body]
    stored = db.execute(
        "select count(*) from webhook_deliveries where payload::text like '%%refund%%'"
    )
    assert stored.fetchone() == (0,)


def test_filters_and_disabled_endpoints(api: Api) -> None:
    with receiver() as only_resumes, receiver() as disabled, receiver() as everything:
        subscribe(api, only_resumes.url, event_types=["takeover.force_resume"])
        off = subscribe(api, disabled.url)
        api.put("webhook-endpoints", {"id": off["id"], "enabled": False}, token=api.admin)
        subscribe(api, everything.url)
        activate(api)
        api.act("pause-resume", C1)
        # Another workspace's events never reach this workspace's endpoints.
        api.act("pause-activate", demo.OTHER_CONVERSATION_ID, token=api.outsider)
        dispatch(api)
        assert len(everything.wait_for(2)) == 2
        assert [json.loads(r.body)["type"] for r in only_resumes.received] == [
            "takeover.force_resume"
        ]
        assert disabled.received == []


def test_pause_expiring_once_per_pause_end(api: Api, db: psycopg.Connection[Any]) -> None:
    with receiver() as hooks:
        endpoint = subscribe(api, hooks.url, event_types=["takeover.pause_expiring"])
        activate(api, duration_minutes=15)
        dispatch(api)
        assert hooks.received == []  # 15 minutes away: not yet

        end_in(db, C1, 4)
        dispatch(api)
        dispatch(api)
        (first,) = hooks.wait_for(1)
        until = db.execute("select paused_until from conversations where id = %s", (C1,))
        end = until.fetchone()[0]  # type: ignore[index]
        assert first.headers["webhook-id"] == f"exp_{C1}_{int(end.timestamp())}"
        payload = verified(endpoint["secret"], first)
        assert payload["type"] == "takeover.pause_expiring"
        data = payload["data"]
        assert data["conversation_id"] == str(C1)
        assert data["ai_mode"] == "paused"
        assert data["workspace_id"] == str(WORKSPACE)
        assert data["team_id"] == str(demo.SUPPORT_TEAM_ID)
        assert 200 <= data["expires_in_seconds"] <= 240
        assert data["paused_until"] == end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

        # Extended: the new end is far away, then near: one new notice for the new end.
        api.act("pause-extend", C1, duration_minutes=15)
        dispatch(api)
        assert len(hooks.received) == 1
        end_in(db, C1, 2)
        dispatch(api)
        dispatch(api)
        received = hooks.wait_for(2)
        assert len(received) == 2
        assert received[1].headers["webhook-id"] != first.headers["webhook-id"]

        # A pause that has already ended gets none.
        api.act("pause-resume", C1)
        activate(api, C2, duration_minutes=15)
        db.execute(
            "update conversations set paused_at = now() - interval '16 minutes',"
            " paused_until = now() - interval '1 minute' where id = %s",
            (C2,),
        )
        dispatch(api)
        assert len(hooks.received) == 2


def test_a_notice_whose_pause_ended_or_moved_is_not_sent_on_retry(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    """The contract decides a notice from the current paused_until at every run: a retry
    of an old end's notice is not due any more once the pause ended or its end moved."""
    with receiver(status=500) as hooks:
        endpoint = subscribe(api, hooks.url, event_types=["takeover.pause_expiring"])
        for conversation in (C1, C2):
            activate(api, conversation, duration_minutes=15)
            end_in(db, conversation, 4)
        assert dispatch(api)["failed"] == 2
        assert len(hooks.wait_for(2)) == 2

        resumed = api.post("pause-resume", {"conversation_id": str(C1)}, token=api.attendant)
        assert resumed.status_code == 200
        extended = api.post(
            "pause-extend",
            {"conversation_id": str(C2), "duration_minutes": 30},
            token=api.attendant,
        )
        assert extended.status_code == 200
        hooks.status = 200
        db.execute("update webhook_deliveries set next_attempt_at = now()")
        assert dispatch(api) == {"delivered": 0, "failed": 0, "pending": 0}
        time.sleep(0.2)
        assert len(hooks.received) == 2
        outcome = {
            row["webhook_id"].split("_")[1]: (row["status"], row["attempts"], row["last_error"])
            for row in deliveries(db, endpoint["id"])
        }
        assert outcome == {
            str(C1): ("failed", 1, "pause_ended"),
            str(C2): ("failed", 1, "pause_end_moved"),
        }


def test_a_retried_notice_says_how_long_is_left_when_it_is_sent(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    with receiver(status=500) as hooks:
        endpoint = subscribe(api, hooks.url, event_types=["takeover.pause_expiring"])
        activate(api, duration_minutes=15)
        end_in(db, C1, 4)
        dispatch(api)
        (first,) = hooks.wait_for(1)
        time.sleep(2.1)
        hooks.status = 200
        db.execute("update webhook_deliveries set next_attempt_at = now()")
        assert dispatch(api)["delivered"] == 1
        first_left, then_left = (
            verified(endpoint["secret"], r)["data"]["expires_in_seconds"] for r in hooks.wait_for(2)
        )
        assert first.headers["webhook-id"] == hooks.received[1].headers["webhook-id"]
        assert 1 <= first_left - then_left <= 4


def test_failures_are_retried_on_the_schedule_with_a_stable_id(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    schedule = [
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=10),
    ]
    with receiver(status=500) as hooks:
        endpoint = subscribe(api, hooks.url, event_types=["takeover.pause_activated"])
        activate(api)
        for attempt, delay in enumerate(schedule, start=1):
            assert dispatch(api)["failed"] == 1
            (row,) = deliveries(db, endpoint["id"])
            assert row["attempts"] == attempt
            assert row["status"] == "pending"
            assert row["last_status_code"] == 500
            waited = row["next_attempt_at"] - row["now"]
            assert delay - timedelta(seconds=2) <= waited <= delay
            # Not due yet: a run now sends nothing.
            assert dispatch(api) == {"delivered": 0, "failed": 0, "pending": 1}
            db.execute(
                "update webhook_deliveries set next_attempt_at = now() where id = %s", (row["id"],)
            )
        assert dispatch(api) == {"delivered": 0, "failed": 1, "pending": 0}
        (row,) = deliveries(db, endpoint["id"])
        assert row["status"] == "failed"
        assert row["attempts"] == 8
        ids = hooks.ids()
        assert len(ids) == 8
        assert set(ids) == {row["webhook_id"]}
        detail = api.get("webhook-endpoints", token=api.admin, id=endpoint["id"]).get_json()
        assert detail["recent_deliveries"] == [
            {
                "webhook_id": row["webhook_id"],
                "type": "takeover.pause_activated",
                "status": "failed",
                "attempts": 8,
                "last_status_code": 500,
                "next_attempt_at": None,
            }
        ]
        # Another activation succeeds on the first attempt once the receiver recovers.
        hooks.status = 200
        api.act("pause-resume", C1)
        activate(api)
        assert dispatch(api)["delivered"] == 1


def test_a_redirect_is_a_failure_and_is_not_followed(api: Api, db: psycopg.Connection[Any]) -> None:
    with receiver() as target, receiver(status=307) as redirecting:
        redirecting.location = target.url
        endpoint = subscribe(api, redirecting.url)
        activate(api)
        assert dispatch(api)["failed"] == 1
        assert len(redirecting.wait_for(1)) == 1
        time.sleep(0.2)
        assert target.received == []
        (row,) = deliveries(db, endpoint["id"])
        assert row["status"] == "pending"
        assert row["last_status_code"] == 307


def test_an_endpoint_that_hangs_does_not_hold_up_the_others(
    api: Api, db: psycopg.Connection[Any], setenv: SetEnv
) -> None:
    setenv(WEBHOOK_TIMEOUT_SECONDS="2")
    with receiver(hang=threading.Event()) as stuck, receiver() as healthy:
        slow = subscribe(api, stuck.url)
        subscribe(api, healthy.url)
        activate(api)
        api.act("pause-resume", C1)
        started = time.time()
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(dispatch, api)
            received = healthy.wait_for(2, seconds=5)
            assert len(received) == 2
            assert received[-1].at - started < 1.5  # before the stuck one's 2 s timeout
            result = running.result()
        assert result["delivered"] == 2
        assert result["failed"] == 1
        rows = deliveries(db, slow["id"])
        # The first timed out; the second waits, unattempted, for the next run.
        assert [(r["attempts"], r["last_error"]) for r in rows] == [(1, "timeout"), (0, None)]


def leases(db: psycopg.Connection[Any], workspace: UUID) -> int:
    row = db.execute(
        "select count(*) from webhook_endpoints where workspace_id = %s and leased_until > now()",
        (workspace,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_one_workspaces_endpoints_that_never_answer_hold_up_no_other_workspace(
    api: Api, db: psycopg.Connection[Any], setenv: SetEnv
) -> None:
    """Issue 17, finding 1: Globex's 40 endpoints take every request and never answer
    (here, until the test lets go). Acme's endpoint, created after them, gets its events
    from the run that is under way and from the next one, while Globex holds only its
    share of the leases, however many runs go on at once."""
    setenv(WEBHOOK_TIMEOUT_SECONDS="60")  # Globex's attempts end when the test says
    with receiver(hang=threading.Event()) as silent, receiver() as healthy:
        for n in range(40):
            subscribe(
                api,
                f"{silent.url}?n={n}",
                workspace=demo.OTHER_WORKSPACE_ID,
                token=api.outsider,
            )
        subscribe(api, healthy.url)
        for _ in range(3):
            api.act("pause-activate", demo.OTHER_CONVERSATION_ID, token=api.outsider)
            api.act("pause-resume", demo.OTHER_CONVERSATION_ID, token=api.outsider)
        activate(api)
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(dispatch, api)
            try:
                assert len(healthy.wait_for(1, seconds=30)) == 1
                api.act("pause-resume", C1)
                second = pool.submit(dispatch, api)
                assert len(healthy.wait_for(2, seconds=30)) == 2
                held = len(silent.received)
                held_leases = leases(db, demo.OTHER_WORKSPACE_ID)
            finally:
                assert silent.hang is not None
                silent.hang.set()
            runs = [first.result(), second.result()]
    assert [json.loads(r.body)["type"] for r in healthy.received] == [
        "takeover.pause_activated",
        "takeover.force_resume",
    ]
    assert held_leases == LEASES_PER_WORKSPACE
    assert held <= LEASES_PER_WORKSPACE
    assert sum(run["delivered"] for run in runs) == 2
    # Each of Globex's endpoints that was tried cost one attempt, and its other events wait.
    attempted = db.execute(
        "select e.id, count(*) filter (where d.attempts > 0), count(*) from webhook_endpoints e"
        " join webhook_deliveries d on d.endpoint_id = e.id"
        " where e.workspace_id = %s group by e.id having max(d.attempts) > 0",
        (demo.OTHER_WORKSPACE_ID,),
    ).fetchall()
    assert attempted
    assert {(tried, total) for _, tried, total in attempted} == {(1, 6)}


def test_an_endpoint_that_gives_no_answer_backs_off_alone(
    api: Api, db: psycopg.Connection[Any], setenv: SetEnv
) -> None:
    """Svix-style: an endpoint that gave no answer is not tried again for a while (5 s,
    doubling with each unanswered attempt in a row, at most 5 min), its other events waiting
    with it; the workspace's other endpoints go on, and an answer ends the back-off."""
    setenv(WEBHOOK_TIMEOUT_SECONDS="1")
    with receiver(hang=threading.Event()) as flaky, receiver() as healthy:
        down = subscribe(api, flaky.url)
        subscribe(api, healthy.url)
        activate(api)
        dispatched = {"delivered": 1, "failed": 1, "pending": 1}
        assert backs_off(api, db, down["id"], dispatched, timedelta(seconds=5)) == 1

        api.act("pause-resume", C1)
        assert dispatch(api) == {"delivered": 1, "failed": 0, "pending": 2}
        assert [(r["attempts"], r["last_error"]) for r in deliveries(db, down["id"])] == [
            (1, "timeout"),
            (0, None),
        ]

        # Its back-off is over and it still does not answer: one attempt, twice the wait.
        db.execute(
            "update webhook_endpoints set backoff_until = now() where id = %s", (down["id"],)
        )
        dispatched = {"delivered": 0, "failed": 1, "pending": 2}
        assert backs_off(api, db, down["id"], dispatched, timedelta(seconds=10)) == 2

        # It answers again: the back-off ends, and each event goes on its own schedule.
        assert flaky.hang is not None
        flaky.hang.set()
        flaky.hang = None
        db.execute(
            "update webhook_endpoints set backoff_until = now() where id = %s", (down["id"],)
        )
        db.execute(
            "update webhook_deliveries set next_attempt_at = now() where endpoint_id = %s",
            (down["id"],),
        )
        assert dispatch(api) == {"delivered": 2, "failed": 0, "pending": 0}
        row = db.execute(
            "select unanswered_attempts, backoff_until from webhook_endpoints where id = %s",
            (down["id"],),
        ).fetchone()
        assert row == (0, None)


def backs_off(
    api: Api,
    db: psycopg.Connection[Any],
    endpoint_id: str,
    dispatched: dict[str, int],
    wait: timedelta,
) -> int:
    """Dispatch (answering `dispatched`), which leaves the endpoint backing off for `wait`
    from its attempt's record; its unanswered attempts in a row."""
    before = database_now(db)
    assert dispatch(api) == dispatched
    after = database_now(db)
    row = db.execute(
        "select unanswered_attempts, backoff_until from webhook_endpoints where id = %s",
        (endpoint_id,),
    ).fetchone()
    assert row is not None
    unanswered, until = row
    assert before + wait <= until <= after + wait
    return int(unanswered)


def database_now(db: psycopg.Connection[Any]) -> datetime:
    row = db.execute("select now()").fetchone()
    assert row is not None
    moment: datetime = row[0]
    return moment


def test_a_private_address_is_refused_when_delivering(
    api: Api, db: psycopg.Connection[Any], setenv: SetEnv
) -> None:
    with receiver() as hooks:
        # Saved while allowed (make run), sent from where it is not.
        by_ip = subscribe(api, hooks.url)
        by_name = subscribe(api, hooks.url.replace("127.0.0.1", "localhost"))
        setenv(WEBHOOKS_ALLOW_PRIVATE_URLS="0")
        activate(api)
        assert dispatch(api)["failed"] == 2
        time.sleep(0.2)
        assert hooks.received == []
        for endpoint in (by_ip, by_name):
            (row,) = deliveries(db, endpoint["id"])
            assert row["last_error"] == "address_not_allowed"
            assert row["attempts"] == 1


def test_a_plain_http_name_is_refused_without_a_lookup(
    api: Api, db: psycopg.Connection[Any], setenv: SetEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is sent to an http:// URL where only https is allowed, so nothing is looked
    up either: a name that never resolves costs the dispatcher nothing."""
    endpoint = subscribe(api, "http://hooks.example:8080/hook")  # saved while allowed
    setenv(WEBHOOKS_ALLOW_PRIVATE_URLS="0")
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def recording(host: Any, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(str(host))
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    activate(api)
    assert dispatch(api)["failed"] == 1
    (row,) = deliveries(db, endpoint["id"])
    assert (row["last_error"], row["attempts"]) == ("https_required", 1)
    assert "hooks.example" not in looked_up


@contextmanager
def dripping(answer: bytes, at_once: int, every: float) -> Iterator[str]:
    """A raw HTTP server on loopback that reads a request, then sends `answer`: its first
    `at_once` bytes at once, the rest one byte every `every` seconds (each read a peer's
    timeout would see succeeds)."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def answer_one(connection: socket.socket) -> None:
        with connection:
            try:
                connection.recv(65536)
                connection.sendall(answer[:at_once])
                for index in range(at_once, len(answer)):
                    if stop.wait(every):
                        return
                    connection.sendall(answer[index : index + 1])
            except OSError:
                return  # the dispatcher hung up

    def serve() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=answer_one, args=(connection,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/hook"
    finally:
        stop.set()
        server.close()


SLOW_BODY = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nxxxxxxxx"


@pytest.mark.parametrize(
    ("answer", "at_once", "every", "result", "recorded"),
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            0,
            0.2,
            {"delivered": 0, "failed": 1, "pending": 1},
            {"attempts": 1, "last_status_code": None, "last_error": "timeout"},
            id="status-line-dripped-past-the-timeout-is-a-timeout",
        ),
        pytest.param(
            SLOW_BODY,
            SLOW_BODY.index(b"\r\n\r\n") + 4,
            0.5,
            {"delivered": 1, "failed": 0, "pending": 0},
            {"status": "delivered", "last_status_code": 200},
            id="2xx-status-line-in-time-delivers-however-slow-the-body",
        ),
    ],
)
def test_an_attempt_ends_at_its_deadline_and_only_the_status_line_need_be_in_time(
    api: Api,
    db: psycopg.Connection[Any],
    setenv: SetEnv,
    answer: bytes,
    at_once: int,
    every: float,
    result: dict[str, int],
    recorded: dict[str, Any],
) -> None:
    """httpx's timeouts are per read: a byte every 0.2 s would keep a 1 s timeout from
    ever firing. The attempt as a whole ends at WEBHOOK_TIMEOUT_SECONDS."""
    setenv(WEBHOOK_TIMEOUT_SECONDS="1")
    with dripping(answer, at_once, every) as url:
        endpoint = subscribe(api, url)
        activate(api)
        started = time.monotonic()
        dispatched = dispatch(api)
        took = time.monotonic() - started
    assert dispatched == result
    (row,) = deliveries(db, endpoint["id"])
    assert {name: row[name] for name in recorded} == recorded
    assert took < 2.5


def test_attempts_are_recorded_only_under_the_endpoints_current_lease(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    endpoint = subscribe(api, "https://hooks.example.com/a")
    activate(api)
    db.execute("select takeover_private.webhook_fan_out(100)")
    (row,) = deliveries(db, endpoint["id"])
    # The first holder outlived its lease; another dispatcher holds the endpoint now.
    holder = uuid4()
    db.execute(
        "update webhook_endpoints set leased_until = now() + interval '1 minute',"
        " lease_token = %s where id = %s",
        (holder, endpoint["id"]),
    )

    def record(token: UUID) -> dict[str, Any]:
        answer = db.execute(
            "select public.takeover_webhook_record(%s, %s, array[%s]::bigint[], array[200],"
            " array[null]::text[], 0, 60)",
            (endpoint["id"], token, row["id"]),
        ).fetchone()
        assert answer is not None
        recorded: dict[str, Any] = answer[0]
        return recorded

    assert record(uuid4()) == {"delivered": 0, "failed": 0, "deliveries": [], "lease_lost": True}
    (unchanged,) = deliveries(db, endpoint["id"])
    assert (unchanged["status"], unchanged["attempts"]) == ("pending", 0)
    assert record(holder) == {"delivered": 1, "failed": 0, "deliveries": []}
    (recorded,) = deliveries(db, endpoint["id"])
    assert (recorded["status"], recorded["attempts"]) == ("delivered", 1)


def test_a_delivery_connects_to_the_address_that_was_checked(
    api: Api, db: psycopg.Connection[Any], setenv: SetEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name answers a public address to the check and a loopback one
    to any later lookup. The delivery must go where the check looked, never inside."""
    with socket.create_server(("127.0.0.1", 0)) as inside:
        port = inside.getsockname()[1]
        endpoint = subscribe(api, f"https://rebind.example:{port}/hook")
        setenv(WEBHOOKS_ALLOW_PRIVATE_URLS="0", WEBHOOK_TIMEOUT_SECONDS="1")
        answers: list[str] = []
        real = socket.getaddrinfo

        def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
            if host != "rebind.example":
                return real(host, *args, **kwargs)
            answers.append("93.184.216.34" if not answers else "127.0.0.1")
            return real(answers[-1], *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        activate(api)
        assert dispatch(api)["failed"] == 1
        inside.setblocking(False)
        with pytest.raises(BlockingIOError):
            inside.accept()  # nothing connected to the loopback address
    assert answers == ["93.184.216.34"]  # one lookup: the one that was checked
    (row,) = deliveries(db, endpoint["id"])
    assert row["attempts"] == 1
    assert row["last_error"] in {"timeout", "connection_failed: ConnectError"}


def test_hung_name_lookups_do_not_hold_up_another_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    """One tenant's names that never resolve (a lookup the resolver never answers) must not
    queue everyone else's lookups behind them."""
    release = threading.Event()
    real = socket.getaddrinfo

    def lookups(host: Any, *args: Any, **kwargs: Any) -> Any:
        if str(host).startswith("hung-"):
            release.wait(30)
            raise socket.gaierror("the resolver gave up")
        return real("93.184.216.34", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookups)
    try:
        for n in range(THREADS):
            with pytest.raises(ResolutionTimeout):
                resolve(f"hung-{n}.example", 443, 0.01)
        assert resolve("public.example", 443, 5) == ["93.184.216.34"]
    finally:
        release.set()


def test_a_rotated_secret_signs_from_then_on(api: Api) -> None:
    with receiver() as hooks:
        endpoint = subscribe(api, hooks.url)
        rotated = api.put(
            "webhook-endpoints", {"id": endpoint["id"], "rotate_secret": True}, token=api.admin
        ).get_json()
        activate(api)
        dispatch(api)
        (delivery,) = hooks.wait_for(1)
        assert verified(rotated["secret"], delivery)["type"] == "takeover.pause_activated"
        with pytest.raises(WebhookVerificationError):
            verified(endpoint["secret"], delivery)


class LeaseFailsOnce:
    """The functions' database, but its first webhook_lease fails as an outage would."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.failed = False

    def call(self, function: str, arguments: Any, options: CallOptions = ONCE) -> Any:
        if function == "webhook_lease" and not self.failed:
            self.failed = True
            raise database_unavailable()
        return self.database.call(function, arguments, options)

    def ping(self) -> None:
        self.database.ping()

    def close(self) -> None:
        self.database.close()


def test_a_lease_that_fails_leaves_the_dispatchers_threads_to_its_next_run(api: Api) -> None:
    """A failed lease once kept the threads it had taken: that instance never leased again."""
    dispatcher = Dispatcher()
    flaky = LeaseFailsOnce(database())
    with receiver() as hooks:
        subscribe(api, hooks.url)
        activate(api)

        with pytest.raises(Unavailable):
            dispatcher.run(flaky, 100)
        result = dispatcher.run(flaky, 100)

        assert (result.delivered, result.failed) == (1, 0)
        events = api.get("pause-logger", token=api.service, conversation_id=C1).get_json()
        assert hooks.ids() == [f"evt_{events['events'][0]['id']}"]
    dispatcher.close()


def test_overlapping_dispatchers_deliver_each_event_once(api: Api) -> None:
    with receiver() as first, receiver() as second:
        subscribe(api, first.url)
        subscribe(api, second.url)
        activate(api)
        for n in range(150):
            api.act("interaction-gate", C1, message_id=f"m-{n}", token=api.service)
        with ThreadPoolExecutor(4) as pool:
            for _ in range(3):
                list(pool.map(lambda limit: dispatch(api, limit), [37, 50, 1000, 64]))
        assert dispatch(api)["pending"] == 0
        for hooks in (first, second):
            counts = Counter(hooks.ids())
            assert len(counts) == 151
            assert set(counts.values()) == {1}
            # Each endpoint's events were first attempted in log order.
            numbers = [int(i.removeprefix("evt_")) for i in hooks.ids()]
            assert numbers == sorted(numbers)


def test_first_attempts_follow_log_order_despite_late_commits_and_two_dispatchers(
    api: Api, db_url: str
) -> None:
    """A log row whose transaction commits after later rows did must still reach every
    endpoint before them, while two dispatchers run over a burst of events."""
    with receiver() as first, receiver() as second:
        for hooks in (first, second):
            subscribe(api, hooks.url)
        activate(api, C1)
        stop = threading.Event()

        def dispatching() -> int:
            runs = 0
            while not stop.is_set():
                dispatch(api, 7)
                runs += 1
            return runs

        with psycopg.connect(db_url) as late, ThreadPoolExecutor(2) as pool:
            # Written (an earlier log id) but not committed until the burst is out.
            late.execute(
                "select public.takeover_activate(%s, null, 60, false, 'late', null)", (C2,)
            )
            dispatchers = [pool.submit(dispatching) for _ in range(2)]
            for n in range(40):
                blocked = api.post(
                    "interaction-gate",
                    {"conversation_id": str(C1), "message_id": f"m-{n}"},
                    token=api.service,
                )
                assert blocked.status_code == 200
            time.sleep(0.5)
            late.commit()
            for hooks in (first, second):
                hooks.wait_for(42)
            stop.set()
            assert all(run.result() > 0 for run in dispatchers)
        assert dispatch(api)["pending"] == 0
        for hooks in (first, second):
            numbers = [int(i.removeprefix("evt_")) for i in hooks.ids()]
            assert len(numbers) == 42
            assert numbers == sorted(numbers)


def test_the_outbox_holds_one_delivery_per_committed_row_and_none_for_a_rollback(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    subscribe(api, "https://hooks.example.com/a")
    subscribe(api, "https://hooks.example.com/b", event_types=["takeover.interaction_blocked"])
    conversations = [C1, C2, demo.SALES_CONVERSATION_ID]
    activate(api, C1)

    def call(n: int) -> int:
        conversation = conversations[n % 3]
        if conversation == C1:
            body = {"conversation_id": str(C1), "message_id": f"m-{n}"}
            return api.post("interaction-gate", body, token=api.service).status_code
        action = "pause-activate" if n % 2 else "pause-resume"
        body = {"conversation_id": str(conversation)}
        return api.post(action, body, token=api.attendant).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(call, range(50)))
    assert set(statuses) <= {200, 409}

    class Rollback(Exception):
        pass

    def written_then_rolled_back() -> None:
        with db.transaction():
            db.execute(
                "insert into ai_pause_logs (conversation_id, action, triggered_by,"
                " previous_ai_mode, new_ai_mode) values (%s, 'interaction_blocked', 'x',"
                " 'paused', 'paused')",
                (C1,),
            )
            assert db.execute("select count(*) from webhook_outbox").fetchone() != (0,)
            raise Rollback

    with pytest.raises(Rollback):
        written_then_rolled_back()
    db.execute("select takeover_private.webhook_fan_out(100000)")
    assert db.execute("select count(*) from webhook_outbox").fetchone() == (0,)

    rows = db.execute(
        "select l.id, l.action::text, count(d.id) filter (where e.url like '%%/a'),"
        " count(d.id) filter (where e.url like '%%/b')"
        " from ai_pause_logs l left join webhook_deliveries d on d.webhook_id = 'evt_' || l.id"
        " left join webhook_endpoints e on e.id = d.endpoint_id"
        " where l.workspace_id = %s group by l.id, l.action",
        (WORKSPACE,),
    ).fetchall()
    assert len(rows) > 17
    for _, action, to_all, to_blocked in rows:
        assert to_all == 1
        assert to_blocked == (1 if action == "interaction_blocked" else 0)
    total = db.execute("select count(*) from webhook_deliveries").fetchone()
    assert total == (sum(1 + (r[1] == "interaction_blocked") for r in rows),)


def test_dispatch_limit_is_bounded(api: Api) -> None:
    for limit in (0, 1001, "5"):
        answer = api.post("webhook-dispatch", {"limit": limit}, token=api.service)
        assert answer.status_code == 422


def test_delivery_timestamps_are_now(api: Api) -> None:
    with receiver() as hooks:
        subscribe(api, hooks.url)
        activate(api)
        dispatch(api)
        (delivery,) = hooks.wait_for(1)
        sent = int(delivery.headers["webhook-timestamp"])
        assert abs(sent - datetime.now(UTC).timestamp()) < 5


def test_make_run_dispatches_on_its_interval(api: Api) -> None:
    from functions.local.server import Schedule, create_app

    with receiver() as hooks:
        subscribe(api, hooks.url)
        pump = Schedule(
            create_app(), api.service, "webhook-dispatch", interval=0.1, summary=lambda _: None
        )
        pump.start()
        try:
            activate(api)
            (delivery,) = hooks.wait_for(1)
        finally:
            pump.stop()
            pump.join(timeout=5)
        assert json.loads(delivery.body)["type"] == "takeover.pause_activated"


# ---------------------------------------------------------------------------------------
# Signing, and the client's verify_webhook
# ---------------------------------------------------------------------------------------


def forged(body: str, key: bytes = b"", webhook_id: str = "evt_1") -> dict[str, str]:
    """Headers of a delivery signed with `key` (by default none at all) just now."""
    timestamp = int(time.time())
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


EVENT = json.dumps({"type": "takeover.pause_activated", "timestamp": "2026-01-01", "data": {}})


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_ "])
def test_verify_webhook_refuses_an_empty_secret(secret: str) -> None:
    """Issue 17, finding 3: a receiver whose secret variable is missing must not accept
    anyone's events (standardwebhooks refuses it: EmptyWebhookSecretError)."""
    with pytest.raises(client_webhooks.WebhookVerificationError, match="secret"):
        client_webhooks.verify_webhook(secret, EVENT, forged(EVENT))


@pytest.mark.parametrize(
    "header",
    ["webhook-signature", "webhook-id", "webhook-timestamp"],
)
def test_verify_webhook_refuses_headers_that_are_not_ascii(header: str) -> None:
    key = b"k" * 32
    secret = "whsec_" + base64.b64encode(key).decode()
    headers = forged(EVENT, key)
    assert client_webhooks.verify_webhook(secret, EVENT, headers).webhook_id == "evt_1"
    headers[header] = "v1,é" if header == "webhook-signature" else headers[header] + "é"
    with pytest.raises(client_webhooks.WebhookVerificationError):
        client_webhooks.verify_webhook(secret, EVENT, headers)


@pytest.mark.parametrize("secret", ["whsec_", "whsec_="])
def test_the_server_signs_with_no_empty_key(secret: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        sign(secret, "evt_1", 1, "{}")
