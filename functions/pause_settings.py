"""pause-settings: the pre-selected pause duration, per workspace and per team."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from functions.database.instance import database
from functions.shared.http import Call, Function, Route
from functions.shared.models import Answer, Duration
from functions.shared.models import Request as Body


class SettingsQuery(Body):
    workspace_id: UUID


class WorkspaceDefault(Body):
    workspace_id: UUID
    default_duration_minutes: Duration | None = Field(description="null: indefinite.")


class TeamOverride(Body):
    team_id: UUID
    default_duration_minutes: Duration | None = Field(description="null: indefinite.")


class TeamInherit(Body):
    team_id: UUID
    inherit: Literal[True]


SettingsChange = WorkspaceDefault | TeamOverride | TeamInherit


class TeamSetting(Answer):
    team_id: UUID
    name: str
    default_duration_minutes: Duration | None = Field(description="The team's effective default.")
    inherits: bool


class Settings(Answer):
    workspace_id: UUID
    default_duration_minutes: Duration | None
    teams: list[TeamSetting]


def read_settings(call: Call[SettingsQuery]) -> Settings:
    settings = database().call(
        "settings",
        {"caller": call.caller.attendant_id, "workspace_id": call.input.workspace_id},
        retry_safe=True,
    )
    return Settings.model_validate(settings)


def change_settings(call: Call[SettingsChange]) -> Settings:
    change = call.input
    settings = database().call(
        "update_settings",
        {
            "caller": call.caller.attendant_id,
            "workspace_id": getattr(change, "workspace_id", None),
            "team_id": getattr(change, "team_id", None),
            "default_duration_minutes": getattr(change, "default_duration_minutes", None),
            "inherit": isinstance(change, TeamInherit),
        },
    )
    return Settings.model_validate(settings)


FUNCTION = Function(
    "pause-settings",
    Route(
        "GET",
        read_settings,
        "The default durations of a workspace",
        who="member, service",
        source="query",
    ),
    Route(
        "PUT",
        change_settings,
        "Change the workspace default or a team's",
        who="workspace admin, service",
    ),
)
