"""pause-settings: the pre-selected pause duration, per workspace, overridden per team.

The demo seed: Acme's default is 30 minutes; Sales overrides it with 120, Support inherits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from functions.local import demo
from tests.support import Api, assert_refused, log_rows, ok, put_settings, snapshot

WORKSPACE = str(demo.WORKSPACE_ID)
SALES = str(demo.SALES_TEAM_ID)
SUPPORT = str(demo.SUPPORT_TEAM_ID)
SUPPORT_CONVERSATION = demo.FIRST_CONVERSATION_ID
SALES_CONVERSATION = demo.SALES_CONVERSATION_ID
NO_TEAM_CONVERSATION = demo.NO_TEAM_CONVERSATION_ID


def defaults(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings answer as the contract states it: the workspace default and, per team,
    its effective default and whether it inherits."""
    return {
        "workspace_id": settings["workspace_id"],
        "default_duration_minutes": settings["default_duration_minutes"],
        "teams": {
            team["team_id"]: (team["default_duration_minutes"], team["inherits"])
            for team in settings["teams"]
        },
    }


def acme(
    workspace: int | None, sales: tuple[int | None, bool], support: tuple[int | None, bool]
) -> dict[str, Any]:
    return {
        "workspace_id": WORKSPACE,
        "default_duration_minutes": workspace,
        "teams": {SALES: sales, SUPPORT: support},
    }


def status_of(api: Api, conversation_id: UUID) -> dict[str, Any]:
    """pause-status, as the attendant sees it."""
    state: dict[str, Any] = api.get(
        "pause-status", token=api.attendant, conversation_id=conversation_id
    ).get_json()
    return state


def read(api: Api, token: str) -> dict[str, Any]:
    return ok(api.get("pause-settings", token=token, workspace_id=WORKSPACE))


def activate_with_default(api: Api, conversation_id: UUID) -> dict[str, Any]:
    """A pause with no duration given: the conversation's effective default."""
    return ok(api.act("pause-activate", conversation_id))


def minutes_paused(state: dict[str, Any]) -> float | None:
    if state["paused_until"] is None:
        return None
    span = datetime.fromisoformat(state["paused_until"]) - datetime.fromisoformat(
        state["paused_at"]
    )
    return span.total_seconds() / 60


def team_row(db: psycopg.Connection[Any], team_id: str) -> tuple[Any, ...]:
    row = db.execute(
        "select inherits_default, default_duration_minutes from teams where id = %s", (team_id,)
    ).fetchone()
    assert row is not None
    return tuple(row)


def workspace_default(db: psycopg.Connection[Any], workspace_id: str = WORKSPACE) -> Any:
    row = db.execute(
        "select default_duration_minutes from workspaces where id = %s", (workspace_id,)
    ).fetchone()
    assert row is not None
    return row[0]


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def test_a_member_reads_the_workspace_default_and_each_teams_effective_default(
    api: Api,
) -> None:
    settings = read(api, api.attendant)

    assert defaults(settings) == acme(30, sales=(120, False), support=(30, True))
    assert [team["team_id"] for team in settings["teams"]] == [SALES, SUPPORT]
    assert {team["name"] for team in settings["teams"]} == {"Sales", "Support"}


def test_the_service_reads_any_workspace(api: Api) -> None:
    acme_settings = read(api, api.service)
    globex = api.get("pause-settings", token=api.service, workspace_id=demo.OTHER_WORKSPACE_ID)

    assert defaults(acme_settings) == acme(30, sales=(120, False), support=(30, True))
    assert globex.status_code == 200
    assert globex.get_json() == {
        "workspace_id": str(demo.OTHER_WORKSPACE_ID),
        "default_duration_minutes": 60,
        "pause_on_human_reply": True,
        "keep_blocked_drafts": True,
        "teams": [],
    }


def test_an_unknown_workspace_is_404(api: Api) -> None:
    for token in (api.attendant, api.service):
        answer = api.get("pause-settings", token=token, workspace_id=uuid4())

        assert_refused(answer, 404, "workspace_not_found")


def test_a_workspace_the_member_is_not_in_is_404(api: Api) -> None:
    answer = api.get("pause-settings", token=api.admin, workspace_id=demo.OTHER_WORKSPACE_ID)

    assert_refused(answer, 404, "workspace_not_found")


# ---------------------------------------------------------------------------
# The workspace default
# ---------------------------------------------------------------------------


def test_admin_changes_the_workspace_default_and_support_pauses_follow_it(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    settings = put_settings(
        api, {"workspace_id": WORKSPACE, "default_duration_minutes": 60}, api.admin
    )

    assert defaults(settings) == acme(60, sales=(120, False), support=(60, True))
    assert read(api, api.attendant) == settings
    assert workspace_default(db) == 60
    support = activate_with_default(api, SUPPORT_CONVERSATION)
    no_team = activate_with_default(api, NO_TEAM_CONVERSATION)
    sales = activate_with_default(api, SALES_CONVERSATION)
    assert (support["duration_minutes"], minutes_paused(support)) == (60, 60)
    assert (no_team["duration_minutes"], minutes_paused(no_team)) == (60, 60)
    assert (sales["duration_minutes"], minutes_paused(sales)) == (120, 120)  # its override
    assert [row["duration_minutes"] for row in log_rows(db)] == [60, 60, 120]


def test_an_indefinite_workspace_default_makes_default_pauses_indefinite(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    settings = put_settings(
        api, {"workspace_id": WORKSPACE, "default_duration_minutes": None}, api.admin
    )

    assert defaults(settings) == acme(None, sales=(120, False), support=(None, True))
    assert workspace_default(db) is None
    support = activate_with_default(api, SUPPORT_CONVERSATION)
    assert support["paused_until"] is None
    assert support["duration_minutes"] is None
    assert support["default_duration_minutes"] is None
    assert activate_with_default(api, SALES_CONVERSATION)["duration_minutes"] == 120


def test_an_explicit_duration_still_wins_over_the_default(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    put_settings(api, {"workspace_id": WORKSPACE, "default_duration_minutes": 120}, api.admin)

    answer = api.act("pause-activate", SUPPORT_CONVERSATION, duration_minutes=15).get_json()

    assert (answer["duration_minutes"], minutes_paused(answer)) == (15, 15)
    assert answer["default_duration_minutes"] == 120


def test_changing_the_default_leaves_a_running_pause_as_it_was(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    running = activate_with_default(api, SUPPORT_CONVERSATION)

    put_settings(api, {"workspace_id": WORKSPACE, "default_duration_minutes": 120}, api.admin)

    status = status_of(api, SUPPORT_CONVERSATION)
    assert status["paused_until"] == running["paused_until"]
    assert status["duration_minutes"] == 30
    assert status["default_duration_minutes"] == 120


def test_settings_changes_write_no_pause_log_rows(api: Api, db: psycopg.Connection[Any]) -> None:
    put_settings(api, {"workspace_id": WORKSPACE, "default_duration_minutes": 15}, api.admin)
    put_settings(api, {"team_id": SALES, "default_duration_minutes": None}, api.admin)
    put_settings(api, {"team_id": SALES, "inherit": True}, api.admin)

    assert log_rows(db) == []


# ---------------------------------------------------------------------------
# Team overrides
# ---------------------------------------------------------------------------


def test_admin_overrides_a_team_then_lets_it_inherit_again(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    overridden = put_settings(api, {"team_id": SUPPORT, "default_duration_minutes": 15}, api.admin)

    assert defaults(overridden) == acme(30, sales=(120, False), support=(15, False))
    assert team_row(db, SUPPORT) == (False, 15)
    first = activate_with_default(api, SUPPORT_CONVERSATION)
    assert (first["duration_minutes"], minutes_paused(first)) == (15, 15)
    api.act("pause-resume", SUPPORT_CONVERSATION)

    inheriting = put_settings(api, {"team_id": SUPPORT, "inherit": True}, api.admin)

    assert defaults(inheriting) == acme(30, sales=(120, False), support=(30, True))
    assert team_row(db, SUPPORT) == (True, None)
    second = activate_with_default(api, SUPPORT_CONVERSATION)
    assert (second["duration_minutes"], minutes_paused(second)) == (30, 30)


def test_an_inheriting_team_follows_later_workspace_changes(api: Api) -> None:
    put_settings(api, {"team_id": SALES, "inherit": True}, api.admin)

    settings = put_settings(
        api, {"workspace_id": WORKSPACE, "default_duration_minutes": 15}, api.admin
    )

    assert defaults(settings) == acme(15, sales=(15, True), support=(15, True))
    assert activate_with_default(api, SALES_CONVERSATION)["duration_minutes"] == 15


def test_an_overriding_team_ignores_workspace_changes(api: Api) -> None:
    settings = put_settings(
        api, {"workspace_id": WORKSPACE, "default_duration_minutes": 15}, api.admin
    )

    assert defaults(settings)["teams"][SALES] == (120, False)
    assert activate_with_default(api, SALES_CONVERSATION)["duration_minutes"] == 120


def test_a_team_override_of_null_is_an_indefinite_default_not_inheritance(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    settings = put_settings(api, {"team_id": SALES, "default_duration_minutes": None}, api.admin)

    assert defaults(settings) == acme(30, sales=(None, False), support=(30, True))
    assert team_row(db, SALES) == (False, None)
    state = activate_with_default(api, SALES_CONVERSATION)
    assert state["paused_until"] is None
    assert state["duration_minutes"] is None


def test_pause_status_reports_the_new_team_default(api: Api) -> None:
    before = status_of(api, SUPPORT_CONVERSATION)

    put_settings(api, {"team_id": SUPPORT, "default_duration_minutes": 60}, api.admin)

    after = status_of(api, SUPPORT_CONVERSATION)
    other_team = status_of(api, SALES_CONVERSATION)
    no_team = status_of(api, NO_TEAM_CONVERSATION)
    assert before["default_duration_minutes"] == 30
    assert after["default_duration_minutes"] == 60
    assert other_team["default_duration_minutes"] == 120
    assert no_team["default_duration_minutes"] == 30


def test_pause_status_reports_a_workspace_change_for_inheriting_teams_only(api: Api) -> None:
    put_settings(api, {"workspace_id": WORKSPACE, "default_duration_minutes": None}, api.admin)

    support = status_of(api, SUPPORT_CONVERSATION)
    sales = status_of(api, SALES_CONVERSATION)

    assert support["default_duration_minutes"] is None
    assert sales["default_duration_minutes"] == 120


# ---------------------------------------------------------------------------
# Who may change them
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"workspace_id": WORKSPACE, "default_duration_minutes": 60}, id="workspace"),
        pytest.param({"workspace_id": WORKSPACE, "default_duration_minutes": None}, id="null"),
        pytest.param({"team_id": SUPPORT, "default_duration_minutes": 15}, id="team-override"),
        pytest.param({"team_id": SALES, "inherit": True}, id="team-inherit"),
    ],
)
def test_an_attendant_who_is_not_admin_cannot_change_settings(
    api: Api, db: psycopg.Connection[Any], body: dict[str, Any]
) -> None:
    before = snapshot(db)

    answer = api.put("pause-settings", body, token=api.attendant)

    assert_refused(answer, 403, "admin_only")
    assert snapshot(db) == before
    assert defaults(read(api, api.attendant)) == acme(30, sales=(120, False), support=(30, True))


def test_the_service_changes_settings_without_being_a_member(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    workspace = put_settings(
        api, {"workspace_id": WORKSPACE, "default_duration_minutes": 120}, api.service
    )
    team = put_settings(api, {"team_id": SUPPORT, "default_duration_minutes": 15}, api.service)
    globex = api.put(
        "pause-settings",
        {"workspace_id": str(demo.OTHER_WORKSPACE_ID), "default_duration_minutes": 15},
        token=api.service,
    )

    assert defaults(workspace) == acme(120, sales=(120, False), support=(120, True))
    assert defaults(team) == acme(120, sales=(120, False), support=(15, False))
    assert globex.status_code == 200
    assert globex.get_json()["default_duration_minutes"] == 15
    assert workspace_default(db, str(demo.OTHER_WORKSPACE_ID)) == 15


def test_the_admin_of_one_workspace_cannot_change_another(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    before = snapshot(db)

    answer = api.put(
        "pause-settings",
        {"workspace_id": str(demo.OTHER_WORKSPACE_ID), "default_duration_minutes": 15},
        token=api.admin,
    )

    assert_refused(answer, 404, "workspace_not_found")
    assert snapshot(db) == before


@pytest.mark.parametrize("who", ["admin", "service"])
@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(
            {"workspace_id": "{unknown}", "default_duration_minutes": 60},
            "workspace_not_found",
            id="workspace",
        ),
        pytest.param(
            {"team_id": "{unknown}", "default_duration_minutes": 60},
            "team_not_found",
            id="team-override",
        ),
        pytest.param(
            {"team_id": "{unknown}", "inherit": True}, "team_not_found", id="team-inherit"
        ),
    ],
)
def test_an_unknown_workspace_or_team_is_404_and_changes_nothing(
    api: Api, db: psycopg.Connection[Any], who: str, body: dict[str, Any], code: str
) -> None:
    before = snapshot(db)
    unknown = {
        name: str(uuid4()) if value == "{unknown}" else value for name, value in body.items()
    }

    answer = api.put("pause-settings", unknown, token=getattr(api, who))

    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == code
    assert snapshot(db) == before
