"""pause-settings: the pre-selected pause duration, per workspace and per team."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

import functions_framework
from flask import Request
from pydantic import Field, TypeAdapter

from functions.auth import ANYONE, authenticate
from functions.database import database
from functions.endpoint import endpoint, read_body, read_query
from functions.models import Answer, Duration
from functions.models import Request as Body


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
_SETTINGS_CHANGE: TypeAdapter[SettingsChange] = TypeAdapter(SettingsChange)


class TeamSetting(Answer):
    team_id: UUID
    name: str
    default_duration_minutes: Duration | None = Field(description="The team's effective default.")
    inherits: bool


class Settings(Answer):
    workspace_id: UUID
    default_duration_minutes: Duration | None
    teams: list[TeamSetting]


@functions_framework.http
@endpoint("GET", "PUT")
def pause_settings(request: Request) -> Settings:
    caller = authenticate(request, ANYONE)
    if request.method == "GET":
        query = read_query(request, SettingsQuery)
        settings = database().call(
            "settings", {"caller": caller.attendant_id, "workspace_id": query.workspace_id}
        )
        return Settings.model_validate(settings)

    change = read_body(request, _SETTINGS_CHANGE)
    settings = database().call(
        "update_settings",
        {
            "caller": caller.attendant_id,
            "workspace_id": getattr(change, "workspace_id", None),
            "team_id": getattr(change, "team_id", None),
            "default_duration_minutes": getattr(change, "default_duration_minutes", None),
            "inherit": isinstance(change, TeamInherit),
        },
    )
    return Settings.model_validate(settings)
