"""The contract's lifecycle, told as it happens: each answer and the exact log rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from functions.local import demo
from tests.support import Api, actions, assert_refused, auto_resumed, conversation, expire, log_rows

CONVERSATION = demo.FIRST_CONVERSATION_ID  # Support team: inherits the workspace's 30 min
ATTENDANT = str(demo.ATTENDANT_ID)


def minutes_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 60


def pause_that_ran_out(api: Api, db: psycopg.Connection[Any]) -> None:
    """The attendant's 15-minute pause on CONVERSATION, its timer past a minute ago."""
    api.act("pause-activate", CONVERSATION, duration_minutes=15)
    expire(db, CONVERSATION)


def test_attendant_pauses_for_a_chosen_duration(api: Api, db: psycopg.Connection[Any]) -> None:
    answer = api.act("pause-activate", CONVERSATION, duration_minutes=60, reason="angry customer")

    assert answer.status_code == 200
    state = answer.get_json()
    assert state["ai_mode"] == "paused"
    assert state["paused_by"] == ATTENDANT
    assert state["duration_minutes"] == 60
    assert state["paused_until"].endswith("Z")
    assert state["paused_at"].endswith("Z")
    assert minutes_between(state["paused_at"], state["paused_until"]) == 60
    assert log_rows(db) == [
        {
            "id": state["event_id"],
            "conversation_id": str(CONVERSATION),
            "action": "pause_activated",
            "reason": "angry customer",
            "duration_minutes": 60,
            "triggered_by": ATTENDANT,
            "previous_ai_mode": "active",
            "new_ai_mode": "paused",
            "message_id": None,
        }
    ]
    assert conversation(db, CONVERSATION)["ai_mode"] == "paused"


def test_absent_duration_takes_the_workspace_default(api: Api, db: psycopg.Connection[Any]) -> None:
    state = api.act("pause-activate", CONVERSATION).get_json()

    assert state["duration_minutes"] == 30
    assert state["default_duration_minutes"] == 30
    assert log_rows(db)[0]["duration_minutes"] == 30


def test_absent_duration_takes_the_team_override(api: Api, db: psycopg.Connection[Any]) -> None:
    state = api.act("pause-activate", demo.SALES_CONVERSATION_ID).get_json()

    assert state["duration_minutes"] == 120
    assert minutes_between(state["paused_at"], state["paused_until"]) == 120


def test_null_duration_pauses_indefinitely(api: Api, db: psycopg.Connection[Any]) -> None:
    state = api.act("pause-activate", CONVERSATION, duration_minutes=None).get_json()

    assert state["ai_mode"] == "paused"
    assert state["paused_until"] is None
    assert state["duration_minutes"] is None
    assert log_rows(db)[0]["duration_minutes"] is None


def test_indefinite_workspace_default_applies_when_duration_absent(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    db.execute(
        "update workspaces set default_duration_minutes = null where id = %s", (demo.WORKSPACE_ID,)
    )

    state = api.act("pause-activate", CONVERSATION).get_json()

    assert state["paused_until"] is None
    assert state["duration_minutes"] is None


def test_pausing_a_paused_conversation_is_409_with_the_current_state(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    first = api.act("pause-activate", CONVERSATION).get_json()

    second = api.act("pause-activate", CONVERSATION, token=api.admin)

    assert second.status_code == 409
    error = second.get_json()["error"]
    assert error["code"] == "already_paused"
    assert error["details"]["paused_by"] == ATTENDANT
    assert error["details"]["paused_until"] == first["paused_until"]
    assert actions(db) == ["pause_activated"]


def test_extend_adds_minutes_to_the_timer(api: Api, db: psycopg.Connection[Any]) -> None:
    paused = api.act("pause-activate", CONVERSATION, duration_minutes=15).get_json()

    answer = api.act(
        "pause-extend", CONVERSATION, duration_minutes=30, reason="needs more", token=api.admin
    )

    assert answer.status_code == 200
    state = answer.get_json()
    assert minutes_between(paused["paused_until"], state["paused_until"]) == 30
    assert state["duration_minutes"] == 45
    assert state["paused_by"] == ATTENDANT  # who paused, not who extended
    extend_row = log_rows(db)[-1]
    assert extend_row == {
        "id": state["event_id"],
        "conversation_id": str(CONVERSATION),
        "action": "extend_pause",
        "reason": "needs more",
        "duration_minutes": 30,
        "triggered_by": str(demo.ADMIN_ID),
        "previous_ai_mode": "paused",
        "new_ai_mode": "paused",
        "message_id": None,
    }


def test_extend_with_null_makes_the_pause_indefinite(api: Api, db: psycopg.Connection[Any]) -> None:
    api.act("pause-activate", CONVERSATION)

    state = api.act("pause-extend", CONVERSATION, duration_minutes=None).get_json()

    assert state["paused_until"] is None
    assert state["duration_minutes"] is None
    assert log_rows(db)[-1]["action"] == "extend_pause"
    assert log_rows(db)[-1]["duration_minutes"] is None


def test_extending_an_indefinite_pause_is_409(api: Api, db: psycopg.Connection[Any]) -> None:
    api.act("pause-activate", CONVERSATION, duration_minutes=None)

    answer = api.act("pause-extend", CONVERSATION, duration_minutes=15)

    assert_refused(answer, 409, "already_indefinite")
    assert len(log_rows(db)) == 1


def test_extend_and_resume_of_an_active_conversation_are_409_not_paused(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    extend = api.act("pause-extend", CONVERSATION, duration_minutes=15)
    resume = api.act("pause-resume", CONVERSATION)

    assert (extend.status_code, resume.status_code) == (409, 409)
    assert extend.get_json()["error"]["code"] == "not_paused"
    assert resume.get_json()["error"]["details"]["ai_mode"] == "active"
    assert log_rows(db) == []


def test_force_resume_hands_back_early(api: Api, db: psycopg.Connection[Any]) -> None:
    api.act("pause-activate", CONVERSATION, duration_minutes=60)

    answer = api.act("pause-resume", CONVERSATION, reason="solved")

    assert answer.status_code == 200
    state = answer.get_json()
    assert state["ai_mode"] == "active"
    assert state["paused_until"] is None
    assert state["paused_by"] is None
    assert log_rows(db)[-1] == {
        "id": state["event_id"],
        "conversation_id": str(CONVERSATION),
        "action": "force_resume",
        "reason": "solved",
        "duration_minutes": 60,
        "triggered_by": ATTENDANT,
        "previous_ai_mode": "paused",
        "new_ai_mode": "active",
        "message_id": None,
    }
    assert conversation(db, CONVERSATION) == {
        "ai_mode": "active",
        "paused_at": None,
        "paused_until": None,
        "paused_by": None,
        "pause_duration_minutes": None,
    }


def test_gate_allows_while_active_and_writes_nothing(api: Api, db: psycopg.Connection[Any]) -> None:
    answer = api.act("interaction-gate", CONVERSATION, message_id="m-1", token=api.service)

    assert answer.status_code == 200
    assert answer.get_json() == {
        "allowed": True,
        "ai_mode": "active",
        "paused_until": None,
        "event_id": None,
    }
    assert log_rows(db) == []


def test_gate_blocks_while_paused_and_logs_once_per_message(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    paused = api.act("pause-activate", CONVERSATION).get_json()

    first = api.act(
        "interaction-gate", CONVERSATION, message_id="m-1", agent_id="bot-7", token=api.service
    ).get_json()
    again = api.act(
        "interaction-gate", CONVERSATION, message_id="m-1", agent_id="bot-7", token=api.service
    ).get_json()

    blocked = [row for row in log_rows(db) if row["action"] == "interaction_blocked"]
    assert len(blocked) == 1
    assert first == {
        "allowed": False,
        "ai_mode": "paused",
        "paused_until": paused["paused_until"],
        "event_id": blocked[0]["id"],
    }
    assert again == first
    assert [{k: v for k, v in row.items() if k != "id"} for row in blocked] == [
        {
            "conversation_id": str(CONVERSATION),
            "action": "interaction_blocked",
            "reason": None,
            "duration_minutes": 30,
            "triggered_by": "bot-7",
            "previous_ai_mode": "paused",
            "new_ai_mode": "paused",
            "message_id": "m-1",
        }
    ]


def test_gate_without_message_id_logs_every_attempt(api: Api, db: psycopg.Connection[Any]) -> None:
    api.act("pause-activate", CONVERSATION)

    for _ in range(2):
        api.act("interaction-gate", CONVERSATION, token=api.service)

    blocked = [row for row in log_rows(db) if row["action"] == "interaction_blocked"]
    assert [row["triggered_by"] for row in blocked] == ["ai_agent", "ai_agent"]


def test_a_blocked_message_stays_blocked_after_the_pause(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    api.act("pause-activate", CONVERSATION)
    blocked = api.act(
        "interaction-gate", CONVERSATION, message_id="m-1", token=api.service
    ).get_json()
    api.act("pause-resume", CONVERSATION)

    retried = api.act(
        "interaction-gate", CONVERSATION, message_id="m-1", token=api.service
    ).get_json()
    fresh = api.act(
        "interaction-gate", CONVERSATION, message_id="m-2", token=api.service
    ).get_json()

    assert retried["allowed"] is False
    assert retried["event_id"] == blocked["event_id"]
    assert fresh["allowed"] is True
    assert actions(db) == ["pause_activated", "interaction_blocked", "force_resume"]


def test_expired_pause_ends_at_the_gate_before_anything_else(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    pause_that_ran_out(api, db)

    answer = api.act(
        "interaction-gate", CONVERSATION, message_id="m-1", token=api.service
    ).get_json()

    assert answer == {"allowed": True, "ai_mode": "active", "paused_until": None, "event_id": None}
    activated, resumed = log_rows(db, CONVERSATION)
    assert resumed["id"] > activated["id"]
    assert {k: v for k, v in resumed.items() if k != "id"} == auto_resumed(CONVERSATION, 15)


def test_expired_pause_is_written_before_a_new_pause(api: Api, db: psycopg.Connection[Any]) -> None:
    pause_that_ran_out(api, db)

    answer = api.act("pause-activate", CONVERSATION, duration_minutes=30, token=api.admin)

    assert answer.status_code == 200
    assert [(row["action"], row["triggered_by"]) for row in log_rows(db)] == [
        ("pause_activated", ATTENDANT),
        ("auto_resume", "system"),
        ("pause_activated", str(demo.ADMIN_ID)),
    ]


def test_resume_of_an_expired_pause_keeps_the_auto_resume_and_is_409(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    pause_that_ran_out(api, db)

    answer = api.act("pause-resume", CONVERSATION)

    assert_refused(answer, 409, "not_paused")
    assert actions(db) == ["pause_activated", "auto_resume"]


def test_status_reports_and_ends_an_expired_pause(api: Api, db: psycopg.Connection[Any]) -> None:
    api.act("pause-activate", CONVERSATION, duration_minutes=15)
    live = api.get("pause-status", token=api.attendant, conversation_id=CONVERSATION).get_json()
    expire(db, CONVERSATION)

    ended = api.get("pause-status", token=api.attendant, conversation_id=CONVERSATION).get_json()

    assert live["ai_mode"] == "paused"
    assert live["event_id"] is None
    assert ended["ai_mode"] == "active"
    assert ended["event_id"] == log_rows(db)[-1]["id"]
    assert log_rows(db)[-1]["action"] == "auto_resume"


def test_auto_resume_ends_every_expired_pause_once(api: Api, db: psycopg.Connection[Any]) -> None:
    for conversation_id in (CONVERSATION, demo.SALES_CONVERSATION_ID):
        api.act("pause-activate", conversation_id, duration_minutes=15)
        expire(db, conversation_id)
    api.act("pause-activate", demo.NO_TEAM_CONVERSATION_ID)

    first = api.post("auto-resume", {}, token=api.service).get_json()
    second = api.post("auto-resume", token=api.service).get_json()

    assert first["resumed"] == 2
    assert sorted(first["conversation_ids"]) == sorted(
        [str(CONVERSATION), str(demo.SALES_CONVERSATION_ID)]
    )
    assert second == {"resumed": 0, "conversation_ids": [], "drafts_deleted": 0}
    assert [row["action"] for row in log_rows(db) if row["action"] == "auto_resume"] == [
        "auto_resume"
    ] * 2
    assert conversation(db, demo.NO_TEAM_CONVERSATION_ID)["ai_mode"] == "paused"


def test_auto_resume_respects_its_limit(api: Api, db: psycopg.Connection[Any]) -> None:
    for conversation_id in (CONVERSATION, demo.SALES_CONVERSATION_ID):
        api.act("pause-activate", conversation_id, duration_minutes=15)
        expire(db, conversation_id)

    assert api.post("auto-resume", {"limit": 1}, token=api.service).get_json()["resumed"] == 1
    assert api.post("auto-resume", {"limit": 1}, token=api.service).get_json()["resumed"] == 1
    assert api.post("auto-resume", {"limit": 1}, token=api.service).get_json()["resumed"] == 0


def test_service_pauses_on_an_attendants_behalf(api: Api, db: psycopg.Connection[Any]) -> None:
    state = api.act(
        "pause-activate", CONVERSATION, triggered_by=ATTENDANT, token=api.service
    ).get_json()

    assert state["paused_by"] == ATTENDANT
    assert log_rows(db)[0]["triggered_by"] == ATTENDANT


def test_service_pause_for_nobody_is_written_as_service(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    state = api.act("pause-activate", CONVERSATION, token=api.service).get_json()

    assert state["paused_by"] is None
    assert log_rows(db)[0]["triggered_by"] == "service"


@pytest.mark.parametrize(
    ("caller", "triggered_by", "status", "code"),
    [
        pytest.param("service", demo.OTHER_ADMIN_ID, 422, "triggered_by_not_member", id="service"),
        pytest.param("attendant", demo.ADMIN_ID, 403, "triggered_by_not_allowed", id="attendant"),
    ],
)
def test_triggered_by_is_refused_for_a_non_member_or_from_an_attendant(
    api: Api, db: psycopg.Connection[Any], caller: str, triggered_by: UUID, status: int, code: str
) -> None:
    answer = api.act(
        "pause-activate", CONVERSATION, triggered_by=str(triggered_by), token=getattr(api, caller)
    )

    assert answer.status_code == status
    assert answer.get_json()["error"]["code"] == code
    assert log_rows(db) == []


def test_pause_timer_counts_from_the_database_clock(api: Api, db: psycopg.Connection[Any]) -> None:
    state = api.act("pause-activate", CONVERSATION, duration_minutes=15).get_json()
    row = db.execute("select now()").fetchone()
    assert row is not None
    assert abs(datetime.fromisoformat(state["paused_at"]) - row[0]) < timedelta(seconds=30)
