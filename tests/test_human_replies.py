"""human-reply, its switch pause_on_human_reply, and the AI's handoff through pause-activate:
each rule of the contract's "Human replies and handoffs", with the exact log rows.

The demo seed: Acme's default is 30 minutes; Sales overrides it with 120, Support inherits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID, uuid4

import psycopg
import pytest

from functions.local import demo
from tests.support import (
    Api,
    age_pause,
    assert_refused,
    conversation,
    expire,
    human_replied,
    log_rows,
    ok,
    put_settings,
    snapshot,
)

C1 = demo.FIRST_CONVERSATION_ID  # Support: inherits the workspace's 30 minutes
SALES_CONVERSATION = demo.SALES_CONVERSATION_ID  # Sales: 120 minutes
WORKSPACE = str(demo.WORKSPACE_ID)
SALES = str(demo.SALES_TEAM_ID)
SUPPORT = str(demo.SUPPORT_TEAM_ID)
ATTENDANT = str(demo.ATTENDANT_ID)
ADMIN = str(demo.ADMIN_ID)


def reply(api: Api, conversation_id: UUID = C1, token: str | None = None, **fields: Any) -> Any:
    """human-reply, as the attendant unless `token` names another caller: its answer."""
    return ok(api.act("human-reply", conversation_id, token=token, **fields))


def without_ids(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in r.items() if key != "id"} for r in rows]


def minutes(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 60


def written_at(db: psycopg.Connection[Any], event_id: int) -> str:
    found = db.execute("select created_at from ai_pause_logs where id = %s", (event_id,)).fetchone()
    assert found is not None
    moment: datetime = found[0]
    return moment.isoformat()


class Refusal(NamedTuple):
    """`caller` (an Api attribute) sends `fields` and is refused with this status and code."""

    case: str
    caller: str
    fields: dict[str, Any]
    status: int = 422
    code: str = "validation_failed"


def settings(api: Api, body: dict[str, Any], token: str | None = None) -> Any:
    return put_settings(api, body, token or api.admin)


# ---------------------------------------------------------------------------------------
# What a reply does
# ---------------------------------------------------------------------------------------


def test_a_first_reply_pauses_for_the_effective_default(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    state = reply(api)

    assert state["ai_mode"] == "paused"
    assert state["changed"] is True
    assert (state["duration_minutes"], state["paused_by"]) == (30, ATTENDANT)
    assert minutes(state["paused_at"], state["paused_until"]) == 30
    assert log_rows(db) == [
        {"id": state["event_id"], **human_replied("pause_activated", 30, ATTENDANT)}
    ]


def test_a_reply_in_a_team_with_its_own_default_pauses_for_that(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    state = reply(api, SALES_CONVERSATION)

    assert state["duration_minutes"] == 120
    assert without_ids(log_rows(db)) == [
        human_replied("pause_activated", 120, ATTENDANT, conversation_id=SALES_CONVERSATION)
    ]


def test_later_replies_slide_the_end_with_one_extend_pause_each(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    first = reply(api)
    age_pause(db, C1, 10)  # the pause began 10 minutes ago: it ends in 20

    second = reply(api, token=api.admin)
    age_pause(db, C1, 25)
    third = reply(api)

    for state in (second, third):
        assert state["changed"] is True
        # now + the default, rounded up to the pause's next whole minute
        until = minutes(written_at(db, state["event_id"]), state["paused_until"])
        assert 30 <= until < 31
        assert state["duration_minutes"] == minutes(state["paused_at"], state["paused_until"])
        assert state["paused_by"] == ATTENDANT  # who paused, not who replied later
    assert 40 < second["duration_minutes"] <= 41
    assert 65 < third["duration_minutes"] <= 66
    assert log_rows(db) == [
        {"id": first["event_id"], **human_replied("pause_activated", 30, ATTENDANT)},
        {"id": second["event_id"], **human_replied("extend_pause", 30, ADMIN)},
        {"id": third["event_id"], **human_replied("extend_pause", 30, ATTENDANT)},
    ]
    assert conversation(db, C1)["pause_duration_minutes"] == third["duration_minutes"]


@pytest.mark.parametrize("duration", [60, None], ids=["longer", "indefinite"])
def test_a_pause_that_lasts_longer_already_is_left_alone(
    api: Api, db: psycopg.Connection[Any], duration: int | None
) -> None:
    paused = api.act("pause-activate", C1, duration_minutes=duration).get_json()
    before = snapshot(db)

    state = reply(api, token=api.admin)

    assert state == {**paused, "event_id": None, "changed": False}
    assert snapshot(db) == before


def test_an_indefinite_default_makes_a_timed_pause_indefinite(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    settings(api, {"workspace_id": WORKSPACE, "default_duration_minutes": None})
    api.act("pause-activate", C1, duration_minutes=120)

    state = reply(api)

    assert (state["paused_until"], state["duration_minutes"]) == (None, None)
    assert log_rows(db)[-1] == {
        "id": state["event_id"],
        **human_replied("extend_pause", None, ATTENDANT),
    }
    assert conversation(db, C1)["paused_until"] is None


def test_an_indefinite_default_pauses_an_active_conversation_indefinitely(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    settings(api, {"workspace_id": WORKSPACE, "default_duration_minutes": None})

    state = reply(api)

    assert (state["ai_mode"], state["paused_until"]) == ("paused", None)
    assert log_rows(db) == [
        {"id": state["event_id"], **human_replied("pause_activated", None, ATTENDANT)}
    ]


def test_a_pause_past_its_timer_is_ended_first_then_the_reply_pauses_again(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    api.act("pause-activate", C1, duration_minutes=15)
    expire(db, C1)

    state = reply(api)

    assert state["changed"] is True
    ended, paused = log_rows(db)[1:]
    assert (ended["action"], ended["reason"], ended["triggered_by"]) == (
        "auto_resume",
        "timer_expired",
        "system",
    )
    assert paused == {"id": state["event_id"], **human_replied("pause_activated", 30, ATTENDANT)}


# ---------------------------------------------------------------------------------------
# The switch: pause_on_human_reply, per workspace and per team
# ---------------------------------------------------------------------------------------


def test_with_the_switch_off_a_reply_changes_nothing(api: Api, db: psycopg.Connection[Any]) -> None:
    settings(api, {"workspace_id": WORKSPACE, "pause_on_human_reply": False})
    before = snapshot(db)

    state = reply(api)

    assert (state["ai_mode"], state["event_id"], state["changed"]) == ("active", None, False)
    assert snapshot(db) == before


def test_a_paused_conversation_is_not_extended_with_the_switch_off(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    api.act("pause-activate", C1, duration_minutes=15)
    settings(api, {"team_id": SUPPORT, "pause_on_human_reply": False})
    before = snapshot(db)

    assert reply(api)["changed"] is False
    assert snapshot(db) == before


def test_a_team_overrides_the_workspace_and_null_inherits_again(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    settings(api, {"workspace_id": WORKSPACE, "pause_on_human_reply": False})
    settings(api, {"team_id": SALES, "pause_on_human_reply": True})

    assert reply(api, SALES_CONVERSATION)["changed"] is True  # Sales says yes
    assert reply(api, C1)["changed"] is False  # Support inherits the workspace's no
    assert reply(api, demo.NO_TEAM_CONVERSATION_ID)["changed"] is False  # no team: the workspace

    settings(api, {"workspace_id": WORKSPACE, "pause_on_human_reply": True})
    settings(api, {"team_id": SUPPORT, "pause_on_human_reply": False})
    assert reply(api, C1)["changed"] is False  # Support says no, whatever the workspace says

    settings(api, {"team_id": SUPPORT, "pause_on_human_reply": None})
    assert reply(api, C1)["changed"] is True  # inherits the workspace's yes again
    assert [(r["conversation_id"], r["action"]) for r in log_rows(db)] == [
        (str(SALES_CONVERSATION), "pause_activated"),
        (str(C1), "pause_activated"),
    ]


# ---------------------------------------------------------------------------------------
# The same message again
# ---------------------------------------------------------------------------------------


def test_the_same_message_again_gets_the_same_answer_and_writes_nothing(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    first = reply(api, message_id="wamid.1")
    age_pause(db, C1, 10)  # a later reply would extend now: a repeated one must not
    before = snapshot(db)

    again = reply(api, message_id="wamid.1", token=api.service)

    assert again["event_id"] == first["event_id"]
    assert again["changed"] is True
    assert again["paused_until"] != first["paused_until"]  # the pause as it is now
    assert snapshot(db) == before
    assert len(log_rows(db)) == 1


def test_a_message_that_changed_nothing_changes_nothing_when_repeated(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    settings(api, {"workspace_id": WORKSPACE, "pause_on_human_reply": False})
    assert reply(api, message_id="m-1")["changed"] is False
    settings(api, {"workspace_id": WORKSPACE, "pause_on_human_reply": True})
    before = snapshot(db)

    again = reply(api, message_id="m-1")

    assert (again["ai_mode"], again["event_id"], again["changed"]) == ("active", None, False)
    assert snapshot(db) == before
    assert reply(api, message_id="m-2")["changed"] is True  # a new message does pause


def test_a_repeated_message_does_not_pause_again_after_a_resume(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    first = reply(api, message_id="m-1")
    api.act("pause-resume", C1)

    again = reply(api, message_id="m-1")

    assert (again["ai_mode"], again["event_id"], again["changed"]) == (
        "active",
        first["event_id"],
        True,
    )
    assert [r["action"] for r in log_rows(db)] == ["pause_activated", "force_resume"]


def test_message_ids_are_per_conversation_and_kept_seven_days(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    reply(api, C1, message_id="m-1")
    assert reply(api, SALES_CONVERSATION, message_id="m-1")["changed"] is True
    db.execute(
        "update takeover_private.human_replies set created_at = now() - interval '7 days 1 minute'"
        " where conversation_id = %s",
        (C1,),
    )

    answer = api.post("auto-resume", {}, token=api.service)

    assert answer.status_code == 200
    kept = db.execute("select conversation_id from takeover_private.human_replies").fetchall()
    assert kept == [(SALES_CONVERSATION,)]


def test_without_a_message_id_each_call_is_a_new_reply(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    reply(api)
    age_pause(db, C1, 10)

    assert reply(api)["changed"] is True
    assert [r["action"] for r in log_rows(db)] == ["pause_activated", "extend_pause"]
    assert db.execute("select count(*) from takeover_private.human_replies").fetchone() == (0,)


# ---------------------------------------------------------------------------------------
# Who replies, and refusals
# ---------------------------------------------------------------------------------------


def test_the_service_replies_for_an_attendant_or_for_nobody(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    for_admin = reply(api, token=api.service, triggered_by=ADMIN)
    for_nobody = reply(api, SALES_CONVERSATION, token=api.service)

    assert (for_admin["paused_by"], for_nobody["paused_by"]) == (ADMIN, None)
    assert without_ids(log_rows(db)) == [
        human_replied("pause_activated", 30, ADMIN),
        human_replied("pause_activated", 120, "service", conversation_id=SALES_CONVERSATION),
    ]


REFUSED_REPLIES = [
    Refusal(
        "attendant-on-behalf", "attendant", {"triggered_by": ADMIN}, 403, "triggered_by_not_allowed"
    ),
    Refusal(
        "service-for-a-non-member",
        "service",
        {"triggered_by": str(demo.OTHER_ADMIN_ID)},
        422,
        "triggered_by_not_member",
    ),
    Refusal("another-workspace", "outsider", {}, 404, "conversation_not_found"),
    Refusal("unknown", "service", {"conversation_id": str(uuid4())}, 404, "conversation_not_found"),
    Refusal("empty-id", "attendant", {"message_id": ""}),
    Refusal("long-id", "attendant", {"message_id": "m" * 201}),
    Refusal("extra-field", "attendant", {"reason": "hi"}),
    Refusal("agent-id-field", "service", {"agent_id": "bot"}),
]


def test_human_reply_takes_only_post(api: Api) -> None:
    answer = api.get("human-reply", token=api.attendant, conversation_id=C1)

    assert_refused(answer, 405, "method_not_allowed")


# ---------------------------------------------------------------------------------------
# The settings
# ---------------------------------------------------------------------------------------


def test_settings_show_the_switches_of_the_workspace_and_the_teams_own(api: Api) -> None:
    settings(api, {"team_id": SALES, "pause_on_human_reply": False})

    answer = api.get("pause-settings", token=api.attendant, workspace_id=WORKSPACE).get_json()

    assert (answer["pause_on_human_reply"], answer["keep_blocked_drafts"]) == (True, True)
    assert {t["team_id"]: t["pause_on_human_reply"] for t in answer["teams"]} == {
        SALES: False,
        SUPPORT: None,
    }


def test_a_switch_alone_leaves_the_default_duration_as_it_was(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    workspace = settings(api, {"workspace_id": WORKSPACE, "pause_on_human_reply": False})
    team = settings(api, {"team_id": SALES, "pause_on_human_reply": True})
    inheriting = settings(api, {"team_id": SALES, "inherit": True, "pause_on_human_reply": None})

    assert (workspace["default_duration_minutes"], workspace["pause_on_human_reply"]) == (30, False)
    sales = {t["team_id"]: t for t in team["teams"]}[SALES]
    assert (sales["default_duration_minutes"], sales["inherits"]) == (120, False)
    assert sales["pause_on_human_reply"] is True
    sales = {t["team_id"]: t for t in inheriting["teams"]}[SALES]
    assert (sales["default_duration_minutes"], sales["inherits"]) == (30, True)
    assert sales["pause_on_human_reply"] is None
    assert db.execute(
        "select inherits_default, default_duration_minutes, pause_on_human_reply from teams"
        " where id = %s",
        (SALES,),
    ).fetchone() == (True, None, None)


def test_a_switch_and_a_default_change_together(api: Api) -> None:
    changed = settings(
        api,
        {"workspace_id": WORKSPACE, "default_duration_minutes": 60, "pause_on_human_reply": False},
        api.service,
    )
    team = settings(
        api, {"team_id": SUPPORT, "default_duration_minutes": 15, "pause_on_human_reply": True}
    )

    assert (changed["default_duration_minutes"], changed["pause_on_human_reply"]) == (60, False)
    support = {t["team_id"]: t for t in team["teams"]}[SUPPORT]
    assert (support["default_duration_minutes"], support["pause_on_human_reply"]) == (15, True)


REFUSED_SETTINGS = [
    Refusal(
        "attendant",
        "attendant",
        {"workspace_id": WORKSPACE, "pause_on_human_reply": False},
        403,
        "admin_only",
    ),
    Refusal(
        "attendant-team",
        "attendant",
        {"team_id": SALES, "pause_on_human_reply": None},
        403,
        "admin_only",
    ),
    Refusal("nothing", "admin", {"workspace_id": WORKSPACE}),
    Refusal("nothing-team", "admin", {"team_id": SALES}),
    Refusal("workspace-null", "admin", {"workspace_id": WORKSPACE, "pause_on_human_reply": None}),
    Refusal("drafts-null", "admin", {"workspace_id": WORKSPACE, "keep_blocked_drafts": None}),
    Refusal("not-a-boolean", "admin", {"workspace_id": WORKSPACE, "pause_on_human_reply": "no"}),
    Refusal("drafts-of-a-team", "admin", {"team_id": SALES, "keep_blocked_drafts": False}),
    Refusal(
        "inherit-and-a-default",
        "admin",
        {"team_id": SALES, "inherit": True, "default_duration_minutes": 15},
    ),
    Refusal(
        "another-workspace",
        "admin",
        {"workspace_id": str(demo.OTHER_WORKSPACE_ID), "pause_on_human_reply": False},
        404,
        "workspace_not_found",
    ),
]


# ---------------------------------------------------------------------------------------
# The AI's handoff: pause-activate with agent_id
# ---------------------------------------------------------------------------------------


def test_the_ai_hands_over_for_the_effective_default(api: Api, db: psycopg.Connection[Any]) -> None:
    answer = api.hand_over(C1, reason="customer_asked_for_human")

    assert answer.status_code == 200
    state = answer.get_json()
    assert (state["ai_mode"], state["paused_by"], state["duration_minutes"]) == (
        "paused",
        None,
        30,
    )
    assert log_rows(db) == [
        {
            "id": state["event_id"],
            **human_replied(
                "pause_activated", 30, "support-bot", reason="customer_asked_for_human"
            ),
        }
    ]


def test_the_ai_hands_over_for_a_duration_it_gives(api: Api, db: psycopg.Connection[Any]) -> None:
    state = api.hand_over(C1, duration_minutes=None).get_json()

    assert (state["paused_until"], state["duration_minutes"]) == (None, None)
    assert without_ids(log_rows(db)) == [
        human_replied("pause_activated", None, "support-bot", reason=None)
    ]


def test_a_handoff_to_a_paused_conversation_is_409(api: Api, db: psycopg.Connection[Any]) -> None:
    api.act("pause-activate", C1)

    answer = api.hand_over(C1)

    assert_refused(answer, 409, "already_paused")
    assert len(log_rows(db)) == 1


REFUSED_HANDOFFS = [
    Refusal("attendant", "attendant", {"agent_id": "support-bot"}, 403, "agent_id_not_allowed"),
    Refusal("with-triggered-by", "service", {"agent_id": "support-bot", "triggered_by": ATTENDANT}),
    Refusal("system", "service", {"agent_id": "system"}),
    Refusal("user-id", "service", {"agent_id": ATTENDANT}),
    Refusal("empty", "service", {"agent_id": ""}),
]


@pytest.mark.parametrize(
    ("function", "refusal"),
    [
        pytest.param(function, refusal, id=f"{function}-{refusal.case}")
        for function, refusals in (
            ("human-reply", REFUSED_REPLIES),
            ("pause-settings", REFUSED_SETTINGS),
            ("pause-activate", REFUSED_HANDOFFS),
        )
        for refusal in refusals
    ],
)
def test_a_refused_reply_settings_change_or_handoff_changes_nothing(
    api: Api, db: psycopg.Connection[Any], function: str, refusal: Refusal
) -> None:
    before = snapshot(db)
    token = getattr(api, refusal.caller)

    if function == "pause-settings":
        answer = api.put(function, refusal.fields, token=token)
    else:  # about the Support conversation, unless the fields name another
        answer = api.post(function, {"conversation_id": str(C1), **refusal.fields}, token=token)

    assert_refused(answer, refusal.status, refusal.code)
    assert snapshot(db) == before


# ---------------------------------------------------------------------------------------
# The report: pauses_by_source
# ---------------------------------------------------------------------------------------


def test_the_report_counts_pauses_by_what_caused_them(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    c4 = UUID("7a1c0000-0000-4000-8000-0000000000c4")
    reply(api, C1)  # Support: a human's reply, the attendant's
    api.act("pause-resume", C1)
    api.hand_over(C1)
    api.act("pause-resume", C1)
    reply(api, SALES_CONVERSATION, token=api.service)  # Sales: a reply, the service's
    age_pause(db, SALES_CONVERSATION, 100)
    reply(api, SALES_CONVERSATION)  # an extension: not a pause
    api.act("pause-activate", c4)  # Sales: the attendant clicks Pause AI
    api.act("interaction-gate", c4, draft="a refund of 42", token=api.service)  # kept aside
    api.act("pause-activate", demo.NO_TEAM_CONVERSATION_ID, token=api.service)  # the service

    now = datetime.now().astimezone()
    window = {
        "workspace_id": WORKSPACE,
        "since": (now - timedelta(hours=1)).isoformat(),
        "until": (now + timedelta(hours=1)).isoformat(),
    }
    answer = api.get("pause-report", token=api.attendant, **window)
    everything = answer.get_json()
    sales = api.get("pause-report", token=api.attendant, team_id=SALES, **window).get_json()

    assert (everything["pauses"], everything["blocked_messages"]) == (5, 1)
    assert "refund" not in answer.get_data(as_text=True)  # drafts are never in the report
    assert everything["pauses_by_source"] == {
        "attendant": 1,
        "human_reply": 2,
        "ai_handoff": 1,
        "service": 1,
    }
    assert sales["pauses_by_source"] == {
        "attendant": 1,
        "human_reply": 1,
        "ai_handoff": 0,
        "service": 0,
    }
    # The attendant's own reply and click are theirs in by_attendant; an agent is nobody.
    assert everything["by_attendant"] == [
        {"user_id": ATTENDANT, "pauses": 2, "force_resumes": 2, "extensions": 1}
    ]
