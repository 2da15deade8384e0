"""Blocked drafts: the message the AI was about to send when the gate refused it, kept beside
its interaction_blocked row (never in the log), shown by pause-status, deleted by the sweep
after DRAFT_RETENTION_HOURS or at once when the workspace switches drafts off."""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID

import psycopg
import pytest

from functions.local import demo
from functions.shared.config import ConfigurationError, config
from tests.conftest import SetEnv
from tests.support import (
    Api,
    assert_refused,
    lock_waiters,
    log_rows,
    ok,
    put_settings,
    snapshot,
    wait_until,
)

C1 = demo.FIRST_CONVERSATION_ID
C2 = UUID("7a1c0000-0000-4000-8000-0000000000c2")
GLOBEX_CONVERSATION = demo.OTHER_CONVERSATION_ID
WORKSPACE = str(demo.WORKSPACE_ID)
DRAFT = "Hello! Your refund of 42 EUR was approved and will reach you within 3 days."


def gate(api: Api, conversation_id: UUID = C1, **fields: Any) -> Any:
    return ok(api.act("interaction-gate", conversation_id, token=api.service, **fields))


def pause(api: Api, conversation_id: UUID = C1) -> None:
    token = api.outsider if conversation_id == GLOBEX_CONVERSATION else api.attendant
    ok(api.act("pause-activate", conversation_id, token=token))


def drafts_shown(api: Api, conversation_id: UUID = C1, token: str | None = None) -> Any:
    answer = api.get("pause-status", token=token or api.attendant, conversation_id=conversation_id)
    return ok(answer)["blocked_drafts"]


def kept(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """Every kept draft: (conversation, event, agent, message, draft), in log order."""
    return db.execute(
        "select conversation_id, event_id, agent_id, message_id, draft from blocked_drafts"
        " order by event_id"
    ).fetchall()


def set_keep(api: Api, keep: bool, token: str | None = None) -> Any:
    body = {"workspace_id": WORKSPACE, "keep_blocked_drafts": keep}
    return put_settings(api, body, token or api.admin)


def sweep(api: Api, **body: Any) -> Any:
    return ok(api.post("auto-resume", body, token=api.service))


def make_older(db: psycopg.Connection[Any], hours: float, event_ids: list[int]) -> None:
    db.execute(
        "update blocked_drafts set created_at = created_at - make_interval(secs => %s)"
        " where event_id = any(%s)",
        (hours * 3600, event_ids),
    )


# ---------------------------------------------------------------------------------------
# Kept, shown
# ---------------------------------------------------------------------------------------


def test_a_refused_draft_is_kept_beside_its_row_and_shown_to_members(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    pause(api)

    verdict = gate(api, message_id="m-1", agent_id="support-bot", draft=DRAFT)

    assert verdict["allowed"] is False
    blocked = log_rows(db)[-1]
    assert blocked == {
        "id": verdict["event_id"],
        "conversation_id": str(C1),
        "action": "interaction_blocked",
        "reason": None,
        "duration_minutes": 30,
        "triggered_by": "support-bot",
        "previous_ai_mode": "paused",
        "new_ai_mode": "paused",
        "message_id": "m-1",
    }
    assert kept(db) == [(C1, verdict["event_id"], "support-bot", "m-1", DRAFT)]
    (shown,) = drafts_shown(api)
    written = db.execute(
        "select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
        " from blocked_drafts"
    ).fetchone()
    assert written is not None
    assert shown == {
        "event_id": verdict["event_id"],
        "agent_id": "support-bot",
        "message_id": "m-1",
        "draft": DRAFT,
        "created_at": written[0],
    }
    assert drafts_shown(api, token=api.service) == [shown]
    assert drafts_shown(api, token=api.admin) == [shown]


def test_an_outsider_sees_no_drafts(api: Api, db: psycopg.Connection[Any]) -> None:
    pause(api)
    gate(api, draft=DRAFT)

    answer = api.get("pause-status", token=api.outsider, conversation_id=C1)

    assert_refused(answer, 404, "conversation_not_found")


def test_an_allowed_message_keeps_no_draft(api: Api, db: psycopg.Connection[Any]) -> None:
    verdict = gate(api, message_id="m-1", draft=DRAFT)

    assert verdict["allowed"] is True
    assert kept(db) == []
    assert drafts_shown(api) == []


def test_without_a_draft_nothing_is_kept(api: Api, db: psycopg.Connection[Any]) -> None:
    pause(api)

    assert gate(api, message_id="m-1")["allowed"] is False
    assert kept(db) == []


def test_the_same_message_again_keeps_the_first_draft(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    pause(api)
    first = gate(api, message_id="m-1", draft="first words")

    again = gate(api, message_id="m-1", draft="second thoughts")

    assert again["event_id"] == first["event_id"]
    assert kept(db) == [(C1, first["event_id"], "ai_agent", "m-1", "first words")]


def test_a_message_without_id_keeps_each_draft(api: Api, db: psycopg.Connection[Any]) -> None:
    pause(api)

    gate(api, draft="one")
    gate(api, draft="two")

    assert [draft for *_, draft in kept(db)] == ["one", "two"]
    assert [shown["draft"] for shown in drafts_shown(api)] == ["two", "one"]


def test_status_shows_the_ten_newest_newest_first(api: Api, db: psycopg.Connection[Any]) -> None:
    pause(api)
    event_ids = [gate(api, message_id=f"m-{n}", draft=f"draft {n}")["event_id"] for n in range(12)]
    gate(api, C2, draft="another conversation's")

    shown = drafts_shown(api)

    assert [entry["event_id"] for entry in shown] == event_ids[::-1][:10]
    assert [entry["draft"] for entry in shown] == [f"draft {n}" for n in range(11, 1, -1)]
    assert len(kept(db)) == 12  # shown: ten; kept: all


@pytest.mark.parametrize("length", [1, 8000])
def test_a_draft_of_one_to_8000_characters_is_kept_whole(
    api: Api, db: psycopg.Connection[Any], length: int
) -> None:
    pause(api)
    text = ("é" * length)[:length]

    gate(api, draft=text)

    assert [draft for *_, draft in kept(db)] == [text]


@pytest.mark.parametrize(
    "draft", ["", "x" * 8001, 42, ["a"]], ids=["empty", "8001", "number", "list"]
)
def test_a_draft_out_of_range_is_422_and_changes_nothing(
    api: Api, db: psycopg.Connection[Any], draft: Any
) -> None:
    pause(api)
    before = snapshot(db)

    answer = api.act("interaction-gate", C1, token=api.service, message_id="m-1", draft=draft)

    assert_refused(answer, 422, "validation_failed")
    assert snapshot(db) == before


def test_no_draft_text_is_ever_in_the_log(api: Api, db: psycopg.Connection[Any]) -> None:
    pause(api)
    gate(api, message_id="m-1", draft=DRAFT)
    gate(api, message_id="m-1", draft=DRAFT)
    gate(api, draft=DRAFT)
    api.act("pause-resume", C1)

    rows = db.execute("select to_jsonb(l)::text from ai_pause_logs l").fetchall()
    assert len(rows) == 4
    assert not [text for (text,) in rows if "refund" in text]
    events = api.get("pause-logger", token=api.service, conversation_id=C1).get_data(as_text=True)
    assert "refund" not in events


# ---------------------------------------------------------------------------------------
# Aged out by the sweep
# ---------------------------------------------------------------------------------------


def test_the_sweep_deletes_drafts_past_their_retention(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    pause(api)
    old, young = (gate(api, message_id=m, draft=m)["event_id"] for m in ("old", "young"))
    make_older(db, 24 + 1 / 60, [old])
    make_older(db, 23.9, [young])

    first = sweep(api)
    second = sweep(api)

    assert (first["drafts_deleted"], second["drafts_deleted"]) == (1, 0)
    assert [event for _, event, *_ in kept(db)] == [young]
    assert [entry["event_id"] for entry in drafts_shown(api)] == [young]
    assert [row["id"] for row in log_rows(db)][1:] == [old, young]  # the log keeps its rows


def test_the_retention_is_draft_retention_hours(
    api: Api, db: psycopg.Connection[Any], setenv: SetEnv
) -> None:
    pause(api)
    day_old, two_days_old = (gate(api, draft=text)["event_id"] for text in ("a", "b"))
    make_older(db, 25, [day_old])
    make_older(db, 49, [two_days_old])
    setenv(DRAFT_RETENTION_HOURS="48")
    deleted = sweep(api)["drafts_deleted"]

    assert deleted == 1
    assert [event for _, event, *_ in kept(db)] == [day_old]


@pytest.mark.parametrize("value", ["0", "8761", "1.5", "a day"])
def test_a_bad_retention_stops_the_process_naming_the_variable(setenv: SetEnv, value: str) -> None:
    setenv(DRAFT_RETENTION_HOURS=value)
    with pytest.raises(ConfigurationError, match=r"^Bad configuration: DRAFT_RETENTION_HOURS"):
        config()


def test_the_sweep_deletes_at_most_its_limit_oldest_first(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    pause(api)
    event_ids = [gate(api, draft=f"d{n}")["event_id"] for n in range(3)]
    for hours, event_id in zip((30, 50, 40), event_ids, strict=True):
        make_older(db, hours, [event_id])

    assert sweep(api, limit=2)["drafts_deleted"] == 2
    assert [event for _, event, *_ in kept(db)] == [event_ids[0]]  # the youngest stays
    assert sweep(api, limit=2)["drafts_deleted"] == 1


# ---------------------------------------------------------------------------------------
# Switched off
# ---------------------------------------------------------------------------------------


def test_switching_drafts_off_deletes_the_workspaces_drafts_at_once(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    pause(api)
    pause(api, GLOBEX_CONVERSATION)
    gate(api, draft="acme's")
    globex = gate(api, GLOBEX_CONVERSATION, draft="globex's")

    answer = set_keep(api, False)

    assert answer["keep_blocked_drafts"] is False
    assert kept(db) == [(GLOBEX_CONVERSATION, globex["event_id"], "ai_agent", None, "globex's")]
    assert drafts_shown(api) == []
    assert gate(api, draft="not kept")["allowed"] is False
    assert len(kept(db)) == 1
    assert [row["action"] for row in log_rows(db, C1)] == ["pause_activated"] + [
        "interaction_blocked"
    ] * 2

    set_keep(api, True, api.service)
    gate(api, draft="kept again")
    assert [entry["draft"] for entry in drafts_shown(api)] == ["kept again"]


def test_only_an_admin_or_the_service_switches_drafts_off(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    pause(api)
    gate(api, draft=DRAFT)
    before = snapshot(db)

    answer = api.put(
        "pause-settings",
        {"workspace_id": WORKSPACE, "keep_blocked_drafts": False},
        token=api.attendant,
    )

    assert_refused(answer, 403, "admin_only")
    assert snapshot(db) == before


def test_a_draft_being_kept_while_drafts_are_switched_off_is_deleted_too(
    api: Api, db: psycopg.Connection[Any], db_url: str
) -> None:
    """The gate keeps a draft (its transaction still open) while the admin switches drafts
    off: the switch waits for it, then deletes it with the others."""
    pause(api)
    switched: list[Any] = []
    with psycopg.connect(db_url) as gate_in_flight:
        verdict = gate_in_flight.execute(
            "select public.takeover_gate(%s, 'm-1', 'ai_agent', 'in flight')", (C1,)
        ).fetchone()
        assert verdict is not None
        assert verdict[0]["allowed"] is False
        switch = threading.Thread(target=lambda: switched.append(set_keep(api, False)))
        switch.start()
        wait_until(
            lambda: lock_waiters(db, event="advisory"),
            10,
            "the switch did not wait for the draft being kept",
        )
        assert switched == []
        gate_in_flight.commit()
        switch.join(timeout=30)

    assert [settings["keep_blocked_drafts"] for settings in switched] == [False]
    assert kept(db) == []
    assert [row["message_id"] for row in log_rows(db) if row["message_id"]] == ["m-1"]
