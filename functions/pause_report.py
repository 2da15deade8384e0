"""pause-report: how often attendants take over, who, for how long, and what it blocked."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime, timedelta
from uuid import UUID

from pydantic import Field

from functions.database.instance import database
from functions.edge.http import Call, Function, Route
from functions.shared.errors import Unprocessable
from functions.shared.models import Answer, IsoDatetime, UtcDatetime
from functions.shared.models import Request as Query

DEFAULT_WINDOW = timedelta(days=30)
LONGEST_WINDOW = timedelta(days=366)


class ReportQuery(Query):
    workspace_id: UUID
    team_id: UUID | None = Field(None, description="Only this team's conversations.")
    since: IsoDatetime | None = Field(
        None, description="Rows at or after this time; default: 30 days before until."
    )
    until: IsoDatetime | None = Field(None, description="Rows before this time; default: now.")


class Resumes(Answer):
    auto: int = Field(description="auto_resume rows: the timer ended the pause.")
    force: int = Field(description="force_resume rows: an attendant handed back.")


class PauseMinutes(Answer):
    """Lengths of the pauses that ended (auto_resume or force_resume) in the window, from
    their pause_activated row; percentile_cont, rounded to 0.1 minute; null when none."""

    p50: float | None
    p90: float | None
    max: float | None
    count: int = Field(description="How many pauses these figures describe.")


class PausesBySource(Answer):
    """pause_activated rows by what caused them."""

    attendant: int = Field(description="An attendant paused (pause-activate).")
    human_reply: int = Field(description="A human's reply paused the AI (reason human_replied).")
    ai_handoff: int = Field(description="An AI agent handed over (pause-activate with agent_id).")
    service: int = Field(description="The service paused on nobody's behalf.")


class TeamFigures(Answer):
    team_id: UUID | None = Field(description="The conversation's team; null: no team.")
    name: str | None
    pauses: int
    blocked_messages: int


class AttendantFigures(Answer):
    user_id: UUID
    pauses: int
    force_resumes: int
    extensions: int


class DayFigures(Answer):
    date: dt.date = Field(description="A UTC date.")
    pauses: int
    blocked_messages: int
    auto_resumes: int
    force_resumes: int


class Report(Answer):
    workspace_id: UUID
    team_id: UUID | None
    since: UtcDatetime
    until: UtcDatetime
    pauses: int = Field(description="pause_activated rows.")
    resumes: Resumes
    extensions: int = Field(description="extend_pause rows.")
    blocked_messages: int = Field(description="interaction_blocked rows.")
    pauses_by_source: PausesBySource
    pause_minutes: PauseMinutes
    by_team: list[TeamFigures] = Field(
        description="Teams with a pause or a blocked message in the window, most pauses first."
    )
    by_attendant: list[AttendantFigures] = Field(
        description="Attendants (uuid triggered_by) with an action in the window, most pauses "
        "first."
    )
    by_day: list[DayFigures] = Field(
        description="Every UTC date the window touches, oldest first, days without rows too."
    )


def window(query: ReportQuery) -> tuple[datetime, datetime]:
    """The report's [since, until): the last 30 days by default, at most 366 days."""
    try:
        until = query.until or datetime.now(UTC)
        since = query.since or until - DEFAULT_WINDOW
    except OverflowError as error:  # until in year 1: no 30 days before it
        raise Unprocessable("invalid_window", "The window is out of range.") from error
    if since >= until:
        raise Unprocessable("invalid_window", "since must be before until.")
    if until - since > LONGEST_WINDOW:
        raise Unprocessable("window_too_long", "The window is at most 366 days.", {"max_days": 366})
    return since, until


def report(call: Call[ReportQuery]) -> Report:
    since, until = window(call.input)
    answer = database().call(
        "report",
        {
            "caller": call.caller.attendant_id,
            "workspace_id": call.input.workspace_id,
            "team_id": call.input.team_id,
            "since": since,
            "until": until,
        },
        # Its cost grows with the workspace's log: up to a year of it.
        call.options.as_heavy_read(),
    )
    return Report.model_validate(answer)


FUNCTION = Function(
    "pause-report",
    Route(
        "GET",
        report,
        "Takeover figures of a workspace over a window",
        who="member, service",
        source="query",
    ),
)
