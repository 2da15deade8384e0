"""pause-settings: the pre-selected pause duration and whether a human's reply pauses the AI,
per workspace and per team, and whether the workspace keeps the AI's blocked drafts."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, Field, StrictBool, model_validator

from functions.database.instance import database
from functions.edge.http import Call, Function, Route
from functions.shared.models import Answer, Duration
from functions.shared.models import Request as Body

# A change carries its id and at least one setting; an absent setting is left as it is.
_SETTINGS = frozenset(
    {"default_duration_minutes", "inherit", "pause_on_human_reply", "keep_blocked_drafts"}
)


class SettingsQuery(Body):
    workspace_id: UUID


class _Change(Body):
    @model_validator(mode="after")
    def _something_to_change(self) -> _Change:
        if not self.model_fields_set & _SETTINGS:
            settings = ", ".join(sorted(_SETTINGS & set(type(self).model_fields)))
            raise ValueError(f"give at least one of {settings}")
        return self


def _not_null(value: bool | None) -> bool | None:
    if value is None:
        raise ValueError("a workspace's setting is true or false (null inherits, for a team)")
    return value


# A workspace's switch: absent leaves it as it is; null is refused.
WorkspaceSwitch = Annotated[StrictBool | None, AfterValidator(_not_null)]


class WorkspaceChange(_Change):
    workspace_id: UUID
    default_duration_minutes: Duration | None = Field(None, description="null: indefinite.")
    pause_on_human_reply: WorkspaceSwitch = Field(
        None, description="Whether a human's reply (human-reply) pauses the AI."
    )
    keep_blocked_drafts: WorkspaceSwitch = Field(
        None, description="false deletes the workspace's kept drafts at once and keeps no more."
    )


class TeamOverride(_Change):
    team_id: UUID
    default_duration_minutes: Duration | None = Field(
        None, description="The team's own default; null: indefinite."
    )
    pause_on_human_reply: StrictBool | None = Field(
        None, description="The team's own value; null: inherit the workspace's."
    )


class TeamInherit(Body):
    team_id: UUID
    inherit: Literal[True] = Field(description="The team takes the workspace's default again.")
    pause_on_human_reply: StrictBool | None = Field(
        None, description="The team's own value; null: inherit the workspace's."
    )


SettingsChange = WorkspaceChange | TeamOverride | TeamInherit


class TeamSetting(Answer):
    team_id: UUID
    name: str
    default_duration_minutes: Duration | None = Field(description="The team's effective default.")
    inherits: bool
    pause_on_human_reply: bool | None = Field(
        description="The team's own value; null: it inherits the workspace's."
    )


class Settings(Answer):
    workspace_id: UUID
    default_duration_minutes: Duration | None
    pause_on_human_reply: bool
    keep_blocked_drafts: bool
    teams: list[TeamSetting]


def read_settings(call: Call[SettingsQuery]) -> Settings:
    arguments = call.input.model_dump() | {"caller": call.caller.attendant_id}
    return Settings.model_validate(database().call("settings", arguments, call.options))


def change_settings(call: Call[SettingsChange]) -> Settings:
    change = call.input
    given = change.model_fields_set
    inherit = isinstance(change, TeamInherit)
    settings = database().call(
        "update_settings",
        {
            "caller": call.caller.attendant_id,
            "workspace_id": getattr(change, "workspace_id", None),
            "team_id": getattr(change, "team_id", None),
            "set_default": "default_duration_minutes" in given or inherit,
            "default_duration_minutes": getattr(change, "default_duration_minutes", None),
            "inherit": inherit,
            "set_pause_on_human_reply": "pause_on_human_reply" in given,
            "pause_on_human_reply": change.pause_on_human_reply,
            "keep_blocked_drafts": getattr(change, "keep_blocked_drafts", None),
        },
        call.options,
    )
    return Settings.model_validate(settings)


FUNCTION = Function(
    "pause-settings",
    Route(
        "GET",
        read_settings,
        "The settings of a workspace and its teams",
        who="member, service",
        source="query",
    ),
    Route(
        "PUT",
        change_settings,
        "Change the workspace's settings or a team's",
        who="workspace admin, service",
    ),
)
