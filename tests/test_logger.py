"""pause-logger: reading the audit trail (GET), and recording a send the agent refused by
itself (POST, interaction_blocked only, while paused)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from functions.local import demo
from tests.support import (
    LOG_FIELDS,
    Api,
    actions,
    assert_refused,
    auto_resumed,
    conversation,
    expire,
    log_rows,
    ok,
    snapshot,
)

CONVERSATION = demo.FIRST_CONVERSATION_ID  # Acme, Support team (30 minutes)
SALES_CONVERSATION = demo.SALES_CONVERSATION_ID  # Acme, Sales team
GLOBEX_CONVERSATION = demo.OTHER_CONVERSATION_ID  # Globex
ATTENDANT = str(demo.ATTENDANT_ID)
ADMIN = str(demo.ADMIN_ID)


def events(api: Api, token: str, **query: Any) -> dict[str, Any]:
    return ok(api.get("pause-logger", token=token, **query))


def every_page(api: Api, token: str, **query: Any) -> list[dict[str, Any]]:
    """Follow next_cursor until it is null; the pages, in order."""
    pages = [events(api, token, **query)]
    while pages[-1]["next_cursor"] is not None:
        pages.append(events(api, token, **query, cursor=pages[-1]["next_cursor"]))
        assert len(pages) < 50
    return pages


def rows_with_times(db: psycopg.Connection[Any], conversation_id: UUID | None = None) -> list[Any]:
    """The log rows with created_at, as the logger answers them."""
    times = dict(db.execute("select id, created_at from ai_pause_logs").fetchall())
    return [row | {"created_at": times[row["id"]]} for row in log_rows(db, conversation_id)]


def as_rows(answered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        event | {"created_at": datetime.fromisoformat(event["created_at"])} for event in answered
    ]


def activate(api: Api, conversation_id: UUID, token: str, **fields: Any) -> dict[str, Any]:
    return ok(api.act("pause-activate", conversation_id, token=token, **fields))


def block(api: Api, conversation_id: UUID, message_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"conversation_id": str(conversation_id)}
    if message_id is not None:
        body["message_id"] = message_id
    return ok(api.post("interaction-gate", body, token=api.service))


def refused_send(api: Api, conversation_id: UUID, **fields: Any) -> Any:
    body = {"action": "interaction_blocked", **fields}  # a test may send another action
    return api.act("pause-logger", conversation_id, token=api.service, **body)


@pytest.fixture
def story(api: Api) -> list[int]:
    """A whole takeover of the Support conversation: paused, a send blocked, extended,
    handed back. The ids of its four log rows."""
    ids = []
    ids.append(
        activate(api, CONVERSATION, api.attendant, duration_minutes=60, reason="angry")["event_id"]
    )
    time.sleep(0.002)  # distinct created_at, for the time filters
    gate = api.act(
        "interaction-gate", CONVERSATION, message_id="m-1", agent_id="bot-7", token=api.service
    )
    ids.append(ok(gate)["event_id"])
    time.sleep(0.002)
    extend = api.act(
        "pause-extend", CONVERSATION, duration_minutes=15, reason="more", token=api.admin
    )
    ids.append(ok(extend)["event_id"])
    time.sleep(0.002)
    resume = api.act("pause-resume", CONVERSATION, reason="done")
    ids.append(ok(resume)["event_id"])
    return ids


# ---------------------------------------------------------------------------
# GET: the trail
# ---------------------------------------------------------------------------


def test_a_conversations_events_come_oldest_first_with_every_field(
    api: Api, db: psycopg.Connection[Any], story: list[int]
) -> None:
    page = events(api, api.attendant, conversation_id=CONVERSATION)

    assert page["next_cursor"] is None
    assert [set(event) for event in page["events"]] == [LOG_FIELDS] * 4
    assert [event["id"] for event in page["events"]] == story
    assert all(event["created_at"].endswith("Z") for event in page["events"])
    answered = [
        {name: event[name] for name in LOG_FIELDS - {"id", "created_at"}}
        for event in page["events"]
    ]
    base = {"conversation_id": str(CONVERSATION), "message_id": None}
    assert answered == [
        base
        | {
            "action": "pause_activated",
            "reason": "angry",
            "duration_minutes": 60,
            "triggered_by": ATTENDANT,
            "previous_ai_mode": "active",
            "new_ai_mode": "paused",
        },
        base
        | {
            "action": "interaction_blocked",
            "reason": None,
            "duration_minutes": 60,
            "triggered_by": "bot-7",
            "previous_ai_mode": "paused",
            "new_ai_mode": "paused",
            "message_id": "m-1",
        },
        base
        | {
            "action": "extend_pause",
            "reason": "more",
            "duration_minutes": 15,
            "triggered_by": ADMIN,
            "previous_ai_mode": "paused",
            "new_ai_mode": "paused",
        },
        base
        | {
            "action": "force_resume",
            "reason": "done",
            "duration_minutes": 75,
            "triggered_by": ATTENDANT,
            "previous_ai_mode": "paused",
            "new_ai_mode": "active",
        },
    ]
    assert as_rows(page["events"]) == rows_with_times(db)


def test_the_service_reads_the_same_trail(
    api: Api, db: psycopg.Connection[Any], story: list[int]
) -> None:
    by_service = events(api, api.service, conversation_id=CONVERSATION)
    by_attendant = events(api, api.attendant, conversation_id=CONVERSATION)

    assert by_service == by_attendant
    assert [event["id"] for event in by_service["events"]] == story


def test_a_conversation_without_events_has_an_empty_trail(api: Api) -> None:
    assert events(api, api.attendant, conversation_id=SALES_CONVERSATION) == {
        "events": [],
        "next_cursor": None,
    }


def test_an_unknown_conversation_is_404(api: Api) -> None:
    answer = api.get("pause-logger", token=api.service, conversation_id=uuid4())

    assert_refused(answer, 404, "conversation_not_found")


def test_the_conversation_filter_keeps_only_that_conversation(api: Api, story: list[int]) -> None:
    other = activate(api, SALES_CONVERSATION, api.attendant)["event_id"]

    only_support = events(api, api.attendant, conversation_id=CONVERSATION)
    only_sales = events(api, api.attendant, conversation_id=SALES_CONVERSATION)
    everything = events(api, api.attendant)

    assert [event["id"] for event in only_support["events"]] == story
    assert [event["id"] for event in only_sales["events"]] == [other]
    assert [event["id"] for event in everything["events"]] == [*story, other]


@pytest.mark.parametrize(
    ("action", "position"),
    [
        ("pause_activated", 0),
        ("interaction_blocked", 1),
        ("extend_pause", 2),
        ("force_resume", 3),
    ],
)
def test_the_action_filter_keeps_only_that_action(
    api: Api, story: list[int], action: str, position: int
) -> None:
    page = events(api, api.attendant, conversation_id=CONVERSATION, action=action)

    assert [(event["id"], event["action"]) for event in page["events"]] == [
        (story[position], action)
    ]


def test_the_action_filter_with_no_such_events_is_empty(api: Api, story: list[int]) -> None:
    assert events(api, api.attendant, action="auto_resume")["events"] == []


def test_since_is_inclusive_and_until_exclusive(api: Api, story: list[int]) -> None:
    trail = events(api, api.attendant, conversation_id=CONVERSATION)["events"]
    times = [event["created_at"] for event in trail]
    assert times == sorted(times)
    assert len(set(times)) == 4

    since_second = events(api, api.attendant, since=times[1])
    until_third = events(api, api.attendant, until=times[2])
    between = events(api, api.attendant, since=times[1], until=times[3])
    after_all = events(api, api.attendant, since="2999-01-01T00:00:00Z")
    before_all = events(api, api.attendant, until="2000-01-01T00:00:00Z")

    assert [event["id"] for event in since_second["events"]] == story[1:]
    assert [event["id"] for event in until_third["events"]] == story[:2]
    assert [event["id"] for event in between["events"]] == story[1:3]
    assert after_all == before_all == {"events": [], "next_cursor": None}


def test_filters_combine(api: Api, story: list[int]) -> None:
    block(api, SALES_CONVERSATION)  # active: allowed, no row
    activate(api, SALES_CONVERSATION, api.attendant)
    sales_blocked = block(api, SALES_CONVERSATION, "s-1")["event_id"]
    times = [e["created_at"] for e in events(api, api.attendant)["events"]]

    blocked_anywhere = events(api, api.attendant, action="interaction_blocked")
    blocked_in_sales = events(
        api,
        api.attendant,
        action="interaction_blocked",
        conversation_id=SALES_CONVERSATION,
    )
    blocked_late = events(api, api.attendant, action="interaction_blocked", since=times[2])

    assert [event["id"] for event in blocked_anywhere["events"]] == [story[1], sales_blocked]
    assert [event["id"] for event in blocked_in_sales["events"]] == [sales_blocked]
    assert [event["id"] for event in blocked_late["events"]] == [sales_blocked]


# ---------------------------------------------------------------------------
# GET: pages
# ---------------------------------------------------------------------------


@pytest.fixture
def seven_events(api: Api) -> list[int]:
    """Support paused, five sends blocked, handed back: seven rows."""
    ids = [activate(api, CONVERSATION, api.attendant)["event_id"]]
    ids += [block(api, CONVERSATION, f"m-{n}")["event_id"] for n in range(5)]
    resumed = api.act("pause-resume", CONVERSATION)
    ids.append(ok(resumed)["event_id"])
    return ids


def test_pages_follow_next_cursor_until_it_is_null(api: Api, seven_events: list[int]) -> None:
    pages = every_page(api, api.attendant, conversation_id=CONVERSATION, limit=3)

    assert [[event["id"] for event in page["events"]] for page in pages] == [
        seven_events[0:3],
        seven_events[3:6],
        seven_events[6:7],
    ]
    assert [page["next_cursor"] for page in pages] == [
        str(seven_events[2]),
        str(seven_events[5]),
        None,
    ]


def test_a_page_that_ends_exactly_at_the_last_event_has_no_cursor(
    api: Api, seven_events: list[int]
) -> None:
    whole = events(api, api.attendant, conversation_id=CONVERSATION, limit=7)
    pages = every_page(api, api.attendant, limit=1)

    assert [event["id"] for event in whole["events"]] == seven_events
    assert whole["next_cursor"] is None
    assert len(pages) == 7
    assert [page["events"][0]["id"] for page in pages] == seven_events
    assert pages[-1]["next_cursor"] is None


def test_paging_with_filters_keeps_the_filters(api: Api, seven_events: list[int]) -> None:
    pages = every_page(api, api.service, action="interaction_blocked", limit=2)

    assert [[event["id"] for event in page["events"]] for page in pages] == [
        seven_events[1:3],
        seven_events[3:5],
        seven_events[5:6],
    ]
    assert all(
        event["action"] == "interaction_blocked" for page in pages for event in page["events"]
    )


def test_a_cursor_past_the_end_is_an_empty_page(api: Api, seven_events: list[int]) -> None:
    page = events(api, api.attendant, cursor=str(seven_events[-1]))

    assert page == {"events": [], "next_cursor": None}


def test_events_written_between_pages_appear_on_the_later_page(
    api: Api, seven_events: list[int]
) -> None:
    first = events(api, api.attendant, conversation_id=CONVERSATION, limit=7)
    later = activate(api, CONVERSATION, api.attendant)["event_id"]

    second = events(api, api.attendant, conversation_id=CONVERSATION, cursor=str(seven_events[-1]))

    assert first["next_cursor"] is None
    assert [event["id"] for event in second["events"]] == [later]


# ---------------------------------------------------------------------------
# GET: whose events
# ---------------------------------------------------------------------------


@pytest.fixture
def two_workspaces(api: Api) -> dict[str, list[int]]:
    """Events in Acme (by its attendant) and in Globex (by the service)."""
    acme = [activate(api, CONVERSATION, api.attendant)["event_id"]]
    acme.append(block(api, CONVERSATION, "a-1")["event_id"])
    globex = [activate(api, GLOBEX_CONVERSATION, api.service)["event_id"]]
    globex.append(block(api, GLOBEX_CONVERSATION, "g-1")["event_id"])
    globex.append(ok(api.act("pause-resume", GLOBEX_CONVERSATION, token=api.service))["event_id"])
    return {"acme": acme, "globex": globex}


def test_an_attendant_lists_only_its_own_workspaces_events(
    api: Api, two_workspaces: dict[str, list[int]]
) -> None:
    page = events(api, api.attendant)

    assert [event["id"] for event in page["events"]] == two_workspaces["acme"]
    assert {event["conversation_id"] for event in page["events"]} == {str(CONVERSATION)}


def test_the_globex_admin_lists_only_globex_events(
    api: Api, two_workspaces: dict[str, list[int]]
) -> None:
    page = events(api, api.outsider)

    assert [event["id"] for event in page["events"]] == two_workspaces["globex"]
    assert [event["triggered_by"] for event in page["events"]] == [
        "service",
        "ai_agent",
        "service",
    ]


def test_the_service_lists_every_workspaces_events(
    api: Api, two_workspaces: dict[str, list[int]]
) -> None:
    page = events(api, api.service)

    assert [event["id"] for event in page["events"]] == sorted(
        two_workspaces["acme"] + two_workspaces["globex"]
    )


def test_another_workspaces_conversation_is_404_for_an_attendant(
    api: Api, two_workspaces: dict[str, list[int]]
) -> None:
    answer = api.get("pause-logger", token=api.attendant, conversation_id=GLOBEX_CONVERSATION)
    by_action = api.get("pause-logger", token=api.attendant, action="force_resume")

    assert_refused(answer, 404, "conversation_not_found")
    assert by_action.get_json() == {"events": [], "next_cursor": None}


def test_paging_an_attendants_list_skips_other_workspaces(
    api: Api, two_workspaces: dict[str, list[int]]
) -> None:
    more_acme = block(api, CONVERSATION, "a-2")["event_id"]

    pages = every_page(api, api.attendant, limit=1)

    assert [page["events"][0]["id"] for page in pages] == [*two_workspaces["acme"], more_acme]


def written_at(db: psycopg.Connection[Any], conversation_id: UUID, created_at: datetime) -> int:
    """A log row with this created_at, written now (as by a transaction that began then):
    its id."""
    row = db.execute(
        "insert into ai_pause_logs (conversation_id, action, triggered_by, previous_ai_mode,"
        " new_ai_mode, created_at) values (%s, 'interaction_blocked', 'ai_agent', 'paused',"
        " 'paused', %s) returning id",
        (conversation_id, created_at),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_members_listing_goes_by_time_and_its_pages_follow_that_order(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    # Given rows whose ids do not follow their times: the first written began last
    now = datetime.now(UTC)
    late = written_at(db, CONVERSATION, now)
    early = written_at(db, SALES_CONVERSATION, now - timedelta(hours=1))
    middle = written_at(db, CONVERSATION, now - timedelta(minutes=30))
    tied = written_at(db, SALES_CONVERSATION, now - timedelta(minutes=30))

    pages = every_page(api, api.attendant, limit=1)

    # A member's listing of its workspaces: by created_at, then id; each cursor the last id
    assert [page["events"][0]["id"] for page in pages] == [early, middle, tied, late]
    assert [page["next_cursor"] for page in pages] == [str(early), str(middle), str(tied), None]
    # One conversation's trail, and the service's listing of every workspace: in id order
    assert ids(events(api, api.attendant, conversation_id=CONVERSATION)) == [late, middle]
    assert ids(events(api, api.service)) == [late, early, middle, tied]


def ids(page: dict[str, Any]) -> list[int]:
    return [event["id"] for event in page["events"]]


def test_a_cursor_that_is_no_event_of_a_members_listing_is_422(
    api: Api, db: psycopg.Connection[Any], two_workspaces: dict[str, list[int]]
) -> None:
    before = snapshot(db)
    for cursor in (two_workspaces["globex"][0], 999_999_999, 0):
        answer = api.get("pause-logger", token=api.attendant, cursor=cursor)
        assert_refused(answer, 422, "invalid_cursor")
    assert snapshot(db) == before


# ---------------------------------------------------------------------------
# GET: an expired pause is ended first
# ---------------------------------------------------------------------------


def test_reading_an_expired_pauses_trail_ends_the_pause_first(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    paused = activate(api, CONVERSATION, api.attendant, duration_minutes=15)
    expire(db, CONVERSATION)

    page = events(api, api.attendant, conversation_id=CONVERSATION)

    assert [event["action"] for event in page["events"]] == ["pause_activated", "auto_resume"]
    ended = page["events"][-1]
    assert ended | {"id": 0, "created_at": ""} == {
        "id": 0,
        **auto_resumed(CONVERSATION, 15),
        "created_at": "",
    }
    assert ended["id"] > paused["event_id"]
    assert conversation(db, CONVERSATION)["ai_mode"] == "active"
    assert len(log_rows(db)) == 2


def test_the_expiry_is_written_once_however_often_the_trail_is_read(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    activate(api, CONVERSATION, api.attendant, duration_minutes=15)
    expire(db, CONVERSATION)

    first = events(api, api.service, conversation_id=CONVERSATION)
    second = events(api, api.attendant, conversation_id=CONVERSATION, action="auto_resume")

    assert [event["action"] for event in first["events"]] == ["pause_activated", "auto_resume"]
    assert [event["id"] for event in second["events"]] == [first["events"][1]["id"]]
    assert actions(db) == ["pause_activated", "auto_resume"]


def test_a_filter_that_hides_the_expiry_still_writes_it(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    activate(api, CONVERSATION, api.attendant, duration_minutes=15)
    expire(db, CONVERSATION)

    page = events(api, api.attendant, conversation_id=CONVERSATION, action="pause_activated")

    assert [event["action"] for event in page["events"]] == ["pause_activated"]
    assert actions(db) == ["pause_activated", "auto_resume"]


@pytest.mark.parametrize("caller", ["attendant", "service"])
def test_a_listing_of_whole_workspaces_ends_no_pause(
    api: Api, db: psycopg.Connection[Any], caller: str
) -> None:
    """A heavy read that ended expired pauses held their row locks as long as it ran, and
    the gate waited on them: the listing writes nothing, the sweep ends them."""
    activate(api, CONVERSATION, api.attendant, duration_minutes=15)
    expire(db, CONVERSATION)
    before = snapshot(db)

    page = events(api, getattr(api, caller))

    assert [event["action"] for event in page["events"]] == ["pause_activated"]
    assert snapshot(db) == before


def test_a_live_pause_is_not_ended_by_reading(api: Api, db: psycopg.Connection[Any]) -> None:
    activate(api, CONVERSATION, api.attendant, duration_minutes=15)
    before = snapshot(db)

    events(api, api.attendant, conversation_id=CONVERSATION)

    assert snapshot(db) == before


# ---------------------------------------------------------------------------
# POST: a send the agent refused by itself
# ---------------------------------------------------------------------------


def test_the_service_records_a_refused_send_while_paused(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    activate(api, CONVERSATION, api.attendant, duration_minutes=60)

    answer = refused_send(
        api, CONVERSATION, message_id="m-1", agent_id="bot-3", reason="saw the pause on Realtime"
    )

    logged = ok(answer)
    assert set(logged) == {"event_id"}
    assert log_rows(db)[-1] == {
        "id": logged["event_id"],
        "conversation_id": str(CONVERSATION),
        "action": "interaction_blocked",
        "reason": "saw the pause on Realtime",
        "duration_minutes": 60,
        "triggered_by": "bot-3",
        "previous_ai_mode": "paused",
        "new_ai_mode": "paused",
        "message_id": "m-1",
    }
    assert conversation(db, CONVERSATION)["ai_mode"] == "paused"


def test_the_agent_id_defaults_to_ai_agent(api: Api, db: psycopg.Connection[Any]) -> None:
    activate(api, CONVERSATION, api.attendant)

    logged = ok(refused_send(api, CONVERSATION))

    assert log_rows(db)[-1]["id"] == logged["event_id"]
    assert log_rows(db)[-1]["triggered_by"] == "ai_agent"
    assert log_rows(db)[-1]["message_id"] is None


def test_the_same_message_again_answers_the_same_event_and_writes_nothing(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    activate(api, CONVERSATION, api.attendant)
    first = ok(refused_send(api, CONVERSATION, message_id="m-1"))
    rows = log_rows(db)

    again = ok(refused_send(api, CONVERSATION, message_id="m-1"))
    again_otherwise = ok(
        refused_send(api, CONVERSATION, message_id="m-1", agent_id="bot-9", reason="retry")
    )

    assert again == again_otherwise == first
    assert log_rows(db) == rows


def test_the_same_message_id_in_another_conversation_is_another_event(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    activate(api, CONVERSATION, api.attendant)
    activate(api, SALES_CONVERSATION, api.attendant)

    support = ok(refused_send(api, CONVERSATION, message_id="m-1"))
    sales = ok(refused_send(api, SALES_CONVERSATION, message_id="m-1"))

    assert support["event_id"] != sales["event_id"]
    assert [row["conversation_id"] for row in log_rows(db)[-2:]] == [
        str(CONVERSATION),
        str(SALES_CONVERSATION),
    ]


def test_sends_without_a_message_id_are_each_recorded(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    activate(api, CONVERSATION, api.attendant)

    first = ok(refused_send(api, CONVERSATION))
    second = ok(refused_send(api, CONVERSATION))

    assert first["event_id"] != second["event_id"]
    assert actions(db) == ["pause_activated", "interaction_blocked", "interaction_blocked"]


def test_the_gate_and_the_logger_share_the_message_dedupe(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    activate(api, CONVERSATION, api.attendant)
    by_gate = block(api, CONVERSATION, "m-1")
    by_logger = ok(refused_send(api, CONVERSATION, message_id="m-1"))
    recorded = ok(refused_send(api, CONVERSATION, message_id="m-2"))
    gate_again = block(api, CONVERSATION, "m-2")

    assert by_logger["event_id"] == by_gate["event_id"]
    assert gate_again["allowed"] is False
    assert gate_again["event_id"] == recorded["event_id"]
    assert [row["message_id"] for row in log_rows(db)] == [None, "m-1", "m-2"]


def test_recording_while_active_is_409_not_paused_and_writes_nothing(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    before = snapshot(db)

    answer = refused_send(api, CONVERSATION, message_id="m-1")

    assert answer.status_code == 409
    error = answer.get_json()["error"]
    assert error["code"] == "not_paused"
    assert error["details"]["ai_mode"] == "active"
    assert snapshot(db) == before


def test_recording_after_a_resume_is_409_not_paused(api: Api, db: psycopg.Connection[Any]) -> None:
    activate(api, CONVERSATION, api.attendant)
    ok(api.act("pause-resume", CONVERSATION))
    before = snapshot(db)

    answer = refused_send(api, CONVERSATION, message_id="m-new")

    assert_refused(answer, 409, "not_paused")
    assert snapshot(db) == before


def test_recording_on_an_expired_pause_writes_the_expiry_and_is_409(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    activate(api, CONVERSATION, api.attendant, duration_minutes=15)
    expire(db, CONVERSATION)

    answer = refused_send(api, CONVERSATION, message_id="m-1")

    assert_refused(answer, 409, "not_paused")
    assert [(row["action"], row["triggered_by"]) for row in log_rows(db)] == [
        ("pause_activated", ATTENDANT),
        ("auto_resume", "system"),
    ]
    assert conversation(db, CONVERSATION)["ai_mode"] == "active"


@pytest.mark.parametrize(
    "action",
    ["pause_activated", "auto_resume", "force_resume", "extend_pause", "blocked", None],
)
def test_any_other_action_is_422_and_writes_nothing(
    api: Api, db: psycopg.Connection[Any], action: str | None
) -> None:
    activate(api, CONVERSATION, api.attendant)
    before = snapshot(db)

    answer = refused_send(api, CONVERSATION, action=action, message_id="m-1")

    assert_refused(answer, 422, "validation_failed")
    assert snapshot(db) == before


def test_an_unknown_conversation_is_404_and_writes_nothing(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    before = snapshot(db)

    answer = refused_send(api, uuid4(), message_id="m-1")

    assert_refused(answer, 404, "conversation_not_found")
    assert snapshot(db) == before


@pytest.mark.parametrize("who", ["attendant", "admin", "outsider"])
def test_an_attendant_cannot_record_and_nothing_is_written(
    api: Api, db: psycopg.Connection[Any], who: str
) -> None:
    activate(api, CONVERSATION, api.attendant)
    before = snapshot(db)

    answer = api.act(
        "pause-logger", CONVERSATION, action="interaction_blocked", token=getattr(api, who)
    )

    assert_refused(answer, 403, "service_only")
    assert snapshot(db) == before


def test_a_recorded_send_shows_in_the_trail(api: Api) -> None:
    activate(api, CONVERSATION, api.attendant)
    logged = ok(refused_send(api, CONVERSATION, message_id="m-1", agent_id="bot-3"))

    page = events(api, api.attendant, conversation_id=CONVERSATION, action="interaction_blocked")

    assert [(e["id"], e["triggered_by"], e["message_id"]) for e in page["events"]] == [
        (logged["event_id"], "bot-3", "m-1")
    ]
