"""pause-report: a known history, then every figure of the report checked exactly.

History before now is written as the owner with explicit created_at (the log is
append-only: nothing can move a row's time afterwards); what happens now goes through the
functions. The window is [since, until): a row at since counts, a row at until does not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from functions.local import demo
from tests.support import Api, expire, snapshot

WORKSPACE = str(demo.WORKSPACE_ID)
OTHER_WORKSPACE = str(demo.OTHER_WORKSPACE_ID)
SUPPORT = str(demo.SUPPORT_TEAM_ID)
SALES = str(demo.SALES_TEAM_ID)
ATTENDANT = str(demo.ATTENDANT_ID)
ADMIN = str(demo.ADMIN_ID)
C1 = UUID("7a1c0000-0000-4000-8000-0000000000c1")  # Support
C2 = UUID("7a1c0000-0000-4000-8000-0000000000c2")  # Support
C3 = UUID("7a1c0000-0000-4000-8000-0000000000c3")  # Sales
C4 = UUID("7a1c0000-0000-4000-8000-0000000000c4")  # Sales
C5 = UUID("7a1c0000-0000-4000-8000-0000000000c5")  # no team
C9 = UUID("7a1c0000-0000-4000-8000-0000000000c9")  # Globex

MODES = {
    "pause_activated": ("active", "paused"),
    "interaction_blocked": ("paused", "paused"),
    "extend_pause": ("paused", "paused"),
    "auto_resume": ("paused", "active"),
    "force_resume": ("paused", "active"),
}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def write(
    db: psycopg.Connection[Any],
    conversation: UUID,
    action: str,
    when: datetime,
    by: str,
    minutes: int | None = None,
) -> None:
    """One historical log row, written as the owner."""
    previous, new = MODES[action]
    db.execute(
        "insert into ai_pause_logs (conversation_id, action, duration_minutes, triggered_by,"
        " previous_ai_mode, new_ai_mode, created_at) values (%s, %s, %s, %s, %s, %s, %s)",
        (conversation, action, minutes, by, previous, new, when),
    )


def report(api: Api, token: str | None = None, **query: Any) -> dict[str, Any]:
    answer = api.get("pause-report", token=token or api.attendant, **query)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body: dict[str, Any] = answer.get_json()
    return body


def refused(api: Api, status: int, code: str, token: str | None = None, **query: Any) -> None:
    answer = api.get("pause-report", token=token or api.attendant, **query)
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.get_json()["error"]["code"] == code


def day(date: str, pauses: int, blocked: int, auto: int, force: int) -> dict[str, Any]:
    return {
        "date": date,
        "pauses": pauses,
        "blocked_messages": blocked,
        "auto_resumes": auto,
        "force_resumes": force,
    }


# A history in March 2026; the window is [03-02 00:00, 03-05 00:00).
SINCE = "2026-03-02T00:00:00Z"
UNTIL = "2026-03-05T00:00:00Z"


@pytest.fixture
def history(db: psycopg.Connection[Any]) -> None:
    # c2: a pause over before the window: nothing of it counts.
    write(db, C2, "pause_activated", at("2026-03-01 10:00"), ATTENDANT, 15)
    write(db, C2, "auto_resume", at("2026-03-01 10:15"), "system", 15)
    # c1: a pause that crosses the window's start, handed back after 20 minutes; its block
    # at exactly `since` counts, the one before does not.
    write(db, C1, "pause_activated", at("2026-03-01 23:50"), ATTENDANT, 30)
    write(db, C1, "interaction_blocked", at("2026-03-01 23:55"), "ai_agent")
    write(db, C1, "interaction_blocked", at("2026-03-02 00:00"), "ai_agent")
    write(db, C1, "force_resume", at("2026-03-02 00:10"), ATTENDANT, 30)
    # c1 again: 15 + 15 minutes by the admin; the cron wrote the auto_resume 10 minutes late,
    # which does not make the pause longer than its 30 minutes.
    write(db, C1, "pause_activated", at("2026-03-02 10:00"), ADMIN, 15)
    write(db, C1, "extend_pause", at("2026-03-02 10:10"), ADMIN, 15)
    write(db, C1, "interaction_blocked", at("2026-03-02 10:20"), "support-bot")
    write(db, C1, "auto_resume", at("2026-03-02 10:40"), "system", 30)
    # c3 (Sales): 45 minutes, handed back by the admin.
    write(db, C3, "pause_activated", at("2026-03-03 12:00"), ATTENDANT, 60)
    write(db, C3, "interaction_blocked", at("2026-03-03 12:30"), "ai_agent")
    write(db, C3, "interaction_blocked", at("2026-03-03 12:31"), "ai_agent")
    write(db, C3, "force_resume", at("2026-03-03 12:45"), ADMIN, 60)
    # c2: an indefinite pause, still running at the window's end.
    write(db, C2, "pause_activated", at("2026-03-04 08:00"), ATTENDANT, None)
    write(db, C2, "interaction_blocked", at("2026-03-04 09:00"), "ai_agent")
    # c5 (no team): the service paused without naming anyone; it ends exactly at `until`,
    # so it did not end in the window.
    write(db, C5, "pause_activated", at("2026-03-04 23:00"), "service", 120)
    write(db, C5, "interaction_blocked", at("2026-03-04 23:30"), "ai_agent")
    write(db, C5, "force_resume", at("2026-03-05 00:00"), ATTENDANT, 120)


@pytest.mark.usefixtures("history")
def test_every_figure_of_a_known_history(api: Api) -> None:
    assert report(api, workspace_id=WORKSPACE, since=SINCE, until=UNTIL) == {
        "workspace_id": WORKSPACE,
        "team_id": None,
        "since": "2026-03-02T00:00:00.000000Z",
        "until": "2026-03-05T00:00:00.000000Z",
        "pauses": 4,
        "resumes": {"auto": 1, "force": 2},
        "extensions": 1,
        "blocked_messages": 6,
        # Attendants' pauses (3) and the service's (1); human replies and handoffs are in
        # tests/test_human_replies.py.
        "pauses_by_source": {"attendant": 3, "human_reply": 0, "ai_handoff": 0, "service": 1},
        # 20 (crossing the start), 30 (the timer, not the late row's 40), 45; percentile_cont
        "pause_minutes": {"p50": 30.0, "p90": 42.0, "max": 45.0, "count": 3},
        "by_team": [
            {"team_id": SUPPORT, "name": "Support", "pauses": 2, "blocked_messages": 3},
            {"team_id": SALES, "name": "Sales", "pauses": 1, "blocked_messages": 2},
            {"team_id": None, "name": None, "pauses": 1, "blocked_messages": 1},
        ],
        # "service" and "system" are nobody; the force_resume at `until` is outside
        "by_attendant": [
            {"user_id": ATTENDANT, "pauses": 2, "force_resumes": 1, "extensions": 0},
            {"user_id": ADMIN, "pauses": 1, "force_resumes": 1, "extensions": 1},
        ],
        "by_day": [
            day("2026-03-02", 1, 2, 1, 1),
            day("2026-03-03", 1, 2, 0, 1),
            day("2026-03-04", 2, 2, 0, 0),
        ],
    }


@pytest.mark.usefixtures("history")
def test_a_team_counts_its_own_conversations_only(api: Api) -> None:
    answer = report(api, workspace_id=WORKSPACE, team_id=SUPPORT, since=SINCE, until=UNTIL)
    assert answer["team_id"] == SUPPORT
    assert (answer["pauses"], answer["resumes"], answer["extensions"]) == (
        2,
        {"auto": 1, "force": 1},
        1,
    )
    assert answer["blocked_messages"] == 3
    assert answer["pause_minutes"] == {"p50": 25.0, "p90": 29.0, "max": 30.0, "count": 2}
    assert answer["by_team"] == [
        {"team_id": SUPPORT, "name": "Support", "pauses": 2, "blocked_messages": 3}
    ]
    assert answer["by_attendant"] == [
        {"user_id": ATTENDANT, "pauses": 1, "force_resumes": 1, "extensions": 0},
        {"user_id": ADMIN, "pauses": 1, "force_resumes": 0, "extensions": 1},
    ]
    assert answer["by_day"] == [
        day("2026-03-02", 1, 2, 1, 1),
        day("2026-03-03", 0, 0, 0, 0),
        day("2026-03-04", 1, 1, 0, 0),
    ]


@pytest.mark.usefixtures("history")
def test_the_window_end_is_excluded_and_days_without_rows_are_listed(api: Api) -> None:
    answer = report(api, workspace_id=WORKSPACE, since=UNTIL, until="2026-03-06T12:00:00Z")
    # The row at exactly 03-05 00:00 is this window's: the c5 pause ended here, after
    # 60 minutes (its activation is before the window: the look-back finds it).
    assert answer["resumes"] == {"auto": 0, "force": 1}
    assert answer["pauses"] == 0
    assert answer["pause_minutes"] == {"p50": 60.0, "p90": 60.0, "max": 60.0, "count": 1}
    assert answer["by_attendant"] == [
        {"user_id": ATTENDANT, "pauses": 0, "force_resumes": 1, "extensions": 0}
    ]
    assert answer["by_team"] == []  # no pause and no block: no team line
    assert answer["by_day"] == [day("2026-03-05", 0, 0, 0, 1), day("2026-03-06", 0, 0, 0, 0)]


@pytest.mark.usefixtures("history")
def test_a_window_with_nothing_ended_has_null_lengths(api: Api) -> None:
    answer = report(
        api, workspace_id=WORKSPACE, since="2026-03-04T00:00:00Z", until="2026-03-04T23:59:59Z"
    )
    assert answer["pauses"] == 2  # the indefinite one, still running; c5's, ended later
    assert answer["pause_minutes"] == {"p50": None, "p90": None, "max": None, "count": 0}
    assert answer["by_day"] == [day("2026-03-04", 2, 2, 0, 0)]


@pytest.mark.usefixtures("history")
def test_the_service_sees_the_same_report_and_another_workspace_sees_nothing(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    query = {"workspace_id": WORKSPACE, "since": SINCE, "until": UNTIL}
    assert report(api, api.service, **query) == report(api, api.admin, **query)
    write(db, C9, "pause_activated", at("2026-03-03 09:00"), str(demo.OTHER_ADMIN_ID), 60)
    globex = report(api, api.service, **{**query, "workspace_id": OTHER_WORKSPACE})
    assert (globex["pauses"], globex["by_attendant"][0]["user_id"]) == (
        1,
        str(demo.OTHER_ADMIN_ID),
    )
    assert report(api, **query)["pauses"] == 4  # Globex's row is not Acme's


def test_an_agent_named_by_a_uuid_is_no_attendant(api: Api, db: psycopg.Connection[Any]) -> None:
    # Actors are counted once each before the attendants are picked: one with only blocked
    # messages is none, whatever its name looks like.
    agent = "0b0b0b0b-0000-4000-8000-000000000000"
    write(db, C1, "pause_activated", at("2026-03-02 10:00"), ATTENDANT, 15)
    write(db, C1, "interaction_blocked", at("2026-03-02 10:05"), agent)

    figures = report(api, workspace_id=WORKSPACE, since=SINCE, until=UNTIL)

    assert figures["blocked_messages"] == 1
    assert figures["by_attendant"] == [
        {"user_id": ATTENDANT, "pauses": 1, "force_resumes": 0, "extensions": 0}
    ]


def test_pauses_through_the_functions_now(api: Api, db: psycopg.Connection[Any]) -> None:
    started = db.execute("select now() - interval '1 minute'").fetchone()
    assert started is not None
    # Sales, c4: a 15-minute pause that began 45 minutes ago; nothing touched the
    # conversation since, so the gate ends it now (lazy expiry): 15 minutes, not 45.
    write(db, C4, "pause_activated", datetime.now(UTC) - timedelta(minutes=45), ATTENDANT, 15)
    db.execute(
        "update conversations set ai_mode = 'paused', paused_at = now() - interval '45 minutes',"
        " paused_until = now() - interval '30 minutes', paused_by = %s,"
        " pause_duration_minutes = 15 where id = %s",
        (ATTENDANT, C4),
    )
    gate = {"conversation_id": str(C4), "message_id": "m-after-expiry"}
    assert api.post("interaction-gate", gate, token=api.service).get_json()["allowed"] is True
    # Sales, c3: paused now for 120 minutes, expired by moving the conversation's times
    # (tests/support.py expire): the gate ends it; the log says it lasted seconds.
    body = {"conversation_id": str(C3)}
    assert api.post("pause-activate", body, token=api.attendant).status_code == 200
    expire(db, C3)
    blocked = {"conversation_id": str(C3), "message_id": "m-1"}
    assert api.post("interaction-gate", blocked, token=api.service).get_json()["allowed"] is True
    # Support, c1: indefinite, still running, two AI messages blocked (one sent twice).
    indefinite = {"conversation_id": str(C1), "duration_minutes": None}
    assert api.post("pause-activate", indefinite, token=api.admin).status_code == 200
    for message in ("m-2", "m-3", "m-3"):
        gated = {"conversation_id": str(C1), "message_id": message}
        assert api.post("interaction-gate", gated, token=api.service).get_json()["allowed"] is False
    # No team, c5: paused by the service for the admin, extended, handed back.
    on_behalf = {"conversation_id": str(C5), "duration_minutes": 15, "triggered_by": ADMIN}
    assert api.post("pause-activate", on_behalf, token=api.service).status_code == 200
    more = {"conversation_id": str(C5), "duration_minutes": 30}
    assert api.post("pause-extend", more, token=api.attendant).status_code == 200
    assert api.act("pause-resume", C5, token=api.admin).status_code == 200

    lengths = sorted(
        minutes
        for (minutes,) in db.execute(
            "select least(extract(epoch from r.created_at - a.created_at) / 60,"
            "  case when r.action = 'auto_resume' then r.duration_minutes end)"
            " from ai_pause_logs r join ai_pause_logs a on a.conversation_id = r.conversation_id"
            "  and a.action = 'pause_activated' and a.id = (select max(id) from ai_pause_logs p"
            "   where p.conversation_id = r.conversation_id and p.id < r.id"
            "   and p.action = 'pause_activated')"
            " where r.action in ('auto_resume', 'force_resume')"
        )
    )
    assert len(lengths) == 3
    assert lengths[-1] == 15
    low, middle = float(lengths[0]), float(lengths[1])

    now = datetime.now(UTC)
    answer = report(
        api,
        workspace_id=WORKSPACE,
        since=started[0].isoformat(),  # the minute before the test: c4's activation is older
        until=(now + timedelta(minutes=1)).isoformat(),
    )
    assert answer["pauses"] == 3
    assert answer["resumes"] == {"auto": 2, "force": 1}
    assert answer["extensions"] == 1
    assert answer["blocked_messages"] == 2
    assert answer["pause_minutes"] == {
        "p50": round(middle, 1),
        "p90": round(middle + 0.8 * (15 - middle), 1),
        "max": 15.0,
        "count": 3,
    }
    assert round(low, 1) <= 0.1  # c3's: the log saw seconds between activation and expiry
    assert answer["by_team"] == [
        {"team_id": SUPPORT, "name": "Support", "pauses": 1, "blocked_messages": 2},
        {"team_id": SALES, "name": "Sales", "pauses": 1, "blocked_messages": 0},
        {"team_id": None, "name": None, "pauses": 1, "blocked_messages": 0},
    ]
    assert (
        answer["by_attendant"]
        == [
            {"user_id": ATTENDANT, "pauses": 1, "force_resumes": 0, "extensions": 1},
            {"user_id": ADMIN, "pauses": 2, "force_resumes": 1, "extensions": 0},
        ][::-1]
    )
    # Days run through the window's last: `until`'s (tomorrow, in a day's last minute).
    last_day = (now + timedelta(minutes=1)).date().isoformat()
    assert [entry["date"] for entry in answer["by_day"]][-1] == last_day


def test_the_default_window_is_the_last_30_days(api: Api) -> None:
    before = datetime.now(UTC)
    answer = report(api, workspace_id=WORKSPACE)
    after = datetime.now(UTC)
    since = datetime.fromisoformat(answer["since"])
    until = datetime.fromisoformat(answer["until"])
    assert before <= until <= after
    assert until - since == timedelta(days=30)
    assert len(answer["by_day"]) == 31  # 30 days from a time of day touch 31 dates
    assert answer["pauses"] == 0
    assert answer["pause_minutes"] == {"p50": None, "p90": None, "max": None, "count": 0}
    only_until = report(api, workspace_id=WORKSPACE, until="2026-03-31T00:00:00Z")
    assert only_until["since"] == "2026-03-01T00:00:00.000000Z"
    only_since = report(api, workspace_id=WORKSPACE, since="2026-11-01T00:00:00+01:00")
    assert only_since["since"] == "2026-10-31T23:00:00.000000Z"


def test_a_window_of_366_days_is_the_longest(api: Api) -> None:
    assert (
        len(report(api, workspace_id=WORKSPACE, since="2025-01-01", until="2026-01-02")["by_day"])
        == 366
    )
    refused(
        api,
        422,
        "window_too_long",
        workspace_id=WORKSPACE,
        since="2025-01-01",
        until="2026-01-02T00:00:01Z",
    )
    refused(api, 422, "window_too_long", workspace_id=WORKSPACE, since="2020-01-01")
    refused(api, 422, "invalid_window", workspace_id=WORKSPACE, since=SINCE, until=SINCE)
    refused(api, 422, "invalid_window", workspace_id=WORKSPACE, since=UNTIL, until=SINCE)
    refused(api, 422, "invalid_window", workspace_id=WORKSPACE, until="0001-01-02T00:00:00Z")
    refused(api, 422, "validation_failed", workspace_id=WORKSPACE, since="yesterday")
    refused(api, 422, "validation_failed", workspace_id=WORKSPACE, since="1700000000")
    refused(api, 422, "validation_failed", workspace_id="acme")
    refused(api, 422, "validation_failed", workspace_id=WORKSPACE, limit="10")


@pytest.mark.parametrize(
    ("since", "until", "dates"),
    [
        (
            "0001-01-01T00:00:00.000000Z",
            "0001-01-02T12:00:00.000000Z",
            ["0001-01-01", "0001-01-02"],
        ),
        (
            "0999-06-30T23:00:00.000000Z",
            "0999-07-01T01:00:00.000000Z",
            ["0999-06-30", "0999-07-01"],
        ),
        ("9999-12-31T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z", ["9999-12-31"]),
    ],
)
def test_a_window_at_the_ends_of_the_calendar_is_echoed_in_iso_8601(
    api: Api, since: str, until: str, dates: list[str]
) -> None:
    """strftime wrote year 1 as "1-01-01T…"; every time answered has four digits of year."""
    answer = report(api, workspace_id=WORKSPACE, since=since, until=until)

    assert (answer["since"], answer["until"]) == (since, until)
    assert [entry["date"] for entry in answer["by_day"]] == dates


def test_the_database_keeps_the_same_bound(db: psycopg.Connection[Any]) -> None:
    """A caller of takeover_report that skips the edge gets the same refusal."""
    row = db.execute(
        "select public.takeover_report(null, %s, null, %s, %s)",
        (WORKSPACE, at("2024-01-01 00:00"), at("2026-01-01 00:00")),
    ).fetchone()
    assert row is not None
    assert row[0]["error"]["code"] == "window_too_long"


def test_who_may_read_a_report(api: Api, db: psycopg.Connection[Any]) -> None:
    before = snapshot(db)
    # Globex's admin is no member of Acme: as if it did not exist, like pause-settings.
    refused(api, 404, "workspace_not_found", api.outsider, workspace_id=WORKSPACE)
    refused(api, 404, "workspace_not_found", api.attendant, workspace_id=OTHER_WORKSPACE)
    unknown = "7a1c0000-0000-4000-8000-00000000ffff"
    refused(api, 404, "workspace_not_found", api.service, workspace_id=unknown)
    refused(api, 404, "team_not_found", workspace_id=WORKSPACE, team_id=unknown)
    # A team of Acme asked about in Globex: not found there.
    refused(api, 404, "team_not_found", api.service, workspace_id=OTHER_WORKSPACE, team_id=SALES)
    answer = api.get("pause-report", workspace_id=WORKSPACE)
    assert answer.status_code == 401
    assert api.call("POST", "pause-report", token=api.attendant, body={}).status_code == 405
    assert snapshot(db) == before
    assert report(api, api.outsider, workspace_id=OTHER_WORKSPACE)["pauses"] == 0
    assert report(api, api.service, workspace_id=OTHER_WORKSPACE)["workspace_id"] == OTHER_WORKSPACE


def test_the_demo_history_is_a_consistent_log(
    api: Api, db: psycopg.Connection[Any], db_url: str
) -> None:
    """make run's four weeks of past takeovers: every pause ended, one at a time per
    conversation, and the conversations' current state (active) agrees with the log."""
    demo.load_history(db_url)
    rows = db.execute(
        "select conversation_id, action::text, created_at, duration_minutes from ai_pause_logs"
        " order by id"
    ).fetchall()
    assert len(rows) > 100
    times = [row[2] for row in rows]
    assert times == sorted(times)  # written in time order: ids follow time
    paused: dict[UUID, bool] = {}
    for conversation_id, action, _, _ in rows:
        before, after = MODES[action]
        assert paused.get(conversation_id, False) == (before == "paused"), (conversation_id, action)
        paused[conversation_id] = after == "paused"
    assert not any(paused.values())
    modes = db.execute("select distinct ai_mode::text from conversations").fetchall()
    assert modes == [("active",)]
    answer = report(api, workspace_id=WORKSPACE)
    assert answer["pauses"] == answer["resumes"]["auto"] + answer["resumes"]["force"]
    assert answer["pause_minutes"]["count"] == answer["pauses"]
    assert {person["user_id"] for person in answer["by_attendant"]} == {ATTENDANT, ADMIN}
    assert all(person["extensions"] > 0 for person in answer["by_attendant"])
    assert answer["resumes"]["auto"] > 10
    assert answer["resumes"]["force"] > 10
