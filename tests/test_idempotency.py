"""Idempotency-Key on pause-activate, pause-extend and pause-resume, as payment APIs do it."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from functions.local import demo
from tests.support import Api, actions, assert_refused, snapshot

CONVERSATION = str(demo.FIRST_CONVERSATION_ID)


def test_same_key_same_body_returns_the_first_answer_and_writes_nothing(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    body = {"conversation_id": CONVERSATION, "duration_minutes": 15}
    headers = {"Idempotency-Key": "click-1"}

    first = api.post("pause-activate", body, token=api.attendant, headers=headers)
    second = api.post("pause-activate", body, token=api.attendant, headers=headers)

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.get_json() == first.get_json()
    assert actions(db) == ["pause_activated"]


def test_two_clicks_at_once_give_one_pause_and_two_identical_answers(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    body = {"conversation_id": CONVERSATION}
    barrier = threading.Barrier(2)
    answers: list[tuple[int, Any]] = []

    def click() -> None:
        barrier.wait()
        answer = api.post(
            "pause-activate", body, token=api.attendant, headers={"Idempotency-Key": "tab-7"}
        )
        answers.append((answer.status_code, answer.get_json()))

    clicks = [threading.Thread(target=click) for _ in range(2)]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join(timeout=30)

    assert [status for status, _ in answers] == [200, 200]
    assert answers[0][1] == answers[1][1]
    assert actions(db) == ["pause_activated"]


def test_same_key_with_another_body_is_422_and_changes_nothing(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    headers = {"Idempotency-Key": "click-1"}
    api.act("pause-activate", CONVERSATION, duration_minutes=15, headers=headers)
    before = snapshot(db)

    answer = api.act("pause-activate", CONVERSATION, duration_minutes=60, headers=headers)

    assert_refused(answer, 422, "idempotency_key_reused")
    assert snapshot(db) == before


def test_same_key_on_another_function_is_422(api: Api, db: psycopg.Connection[Any]) -> None:
    headers = {"Idempotency-Key": "k"}
    api.act("pause-activate", CONVERSATION, headers=headers)

    answer = api.act("pause-resume", CONVERSATION, headers=headers)

    assert_refused(answer, 422, "idempotency_key_reused")
    assert actions(db) == ["pause_activated"]


def test_a_refusal_is_replayed_too(api: Api, db: psycopg.Connection[Any]) -> None:
    headers = {"Idempotency-Key": "resume-1"}
    first = api.act("pause-resume", CONVERSATION, headers=headers)
    api.act("pause-activate", CONVERSATION)

    again = api.act("pause-resume", CONVERSATION, headers=headers)

    assert first.status_code == again.status_code == 409
    assert again.get_json()["error"]["details"] == first.get_json()["error"]["details"]
    assert actions(db) == ["pause_activated"]


def test_keys_belong_to_their_caller(api: Api, db: psycopg.Connection[Any]) -> None:
    headers = {"Idempotency-Key": "same-key"}
    api.act("pause-activate", CONVERSATION, headers=headers)

    by_admin = api.act("pause-activate", CONVERSATION, headers=headers, token=api.admin)

    assert_refused(by_admin, 409, "already_paused")


def test_keys_expire_after_24_hours(api: Api, db: psycopg.Connection[Any]) -> None:
    headers = {"Idempotency-Key": "extend-1"}
    api.act("pause-activate", CONVERSATION)
    body = {"conversation_id": CONVERSATION, "duration_minutes": 15}
    first = api.post("pause-extend", body, token=api.attendant, headers=headers).get_json()
    db.execute("update idempotency_keys set created_at = created_at - interval '24 hours 1 second'")

    second = api.post("pause-extend", body, token=api.attendant, headers=headers).get_json()

    assert second["event_id"] != first["event_id"]
    assert actions(db) == ["pause_activated", "extend_pause", "extend_pause"]


def test_a_new_key_forgets_the_callers_expired_ones(api: Api, db: psycopg.Connection[Any]) -> None:
    api.act("pause-activate", CONVERSATION, headers={"Idempotency-Key": "old"})
    db.execute("update idempotency_keys set created_at = created_at - interval '25 hours'")

    api.act("pause-resume", CONVERSATION, headers={"Idempotency-Key": "new"})

    assert db.execute("select key from idempotency_keys").fetchall() == [("new",)]


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "two words"])
def test_a_malformed_key_is_422(api: Api, db: psycopg.Connection[Any], key: str) -> None:
    before = snapshot(db)

    answer = api.act("pause-activate", CONVERSATION, headers={"Idempotency-Key": key})

    assert_refused(answer, 422, "invalid_idempotency_key")
    assert snapshot(db) == before


def test_an_absent_duration_and_a_null_one_are_different_requests(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    """Absent means the effective default (30 min here); null means indefinite. Replaying
    the key with null must not return the stored 30-minute answer."""
    headers = {"Idempotency-Key": "click-null"}
    first = api.act("pause-activate", CONVERSATION, headers=headers)
    before = snapshot(db)

    again = api.act("pause-activate", CONVERSATION, duration_minutes=None, headers=headers)

    assert first.get_json()["duration_minutes"] == 30
    assert_refused(again, 422, "idempotency_key_reused")
    assert snapshot(db) == before


def test_a_stored_answer_does_not_outlive_membership(api: Api, db: psycopg.Connection[Any]) -> None:
    headers = {"Idempotency-Key": "before-removal"}
    body = {"conversation_id": CONVERSATION}
    first = api.post("pause-activate", body, token=api.attendant, headers=headers)
    db.execute("delete from workspace_members where user_id = %s", (demo.ATTENDANT_ID,))

    replay = api.post("pause-activate", body, token=api.attendant, headers=headers)

    assert first.status_code == 200
    assert_refused(replay, 404, "conversation_not_found")
    assert "paused_until" not in replay.get_data(as_text=True)
