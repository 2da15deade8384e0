"""What each function answers, as typed, frozen values. Field names are the JSON's; ids are
uuid text; times are aware datetimes in UTC. tests/test_client.py checks every one against
the published OpenAPI document."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from takeover_client.webhooks import EventType

# Every answer type, as the package exports them (takeover_client/__init__.py).
__all__ = [
    "Action",
    "AiMode",
    "AttendantFigures",
    "BlockedDraft",
    "DayFigures",
    "Decision",
    "Deleted",
    "Delivery",
    "DispatchAnswer",
    "Endpoint",
    "EndpointDetail",
    "EndpointList",
    "EndpointWithSecret",
    "Event",
    "EventsPage",
    "ExportAnswer",
    "GateAnswer",
    "HumanReplyAnswer",
    "LoggedEvent",
    "PauseMinutes",
    "PauseState",
    "PausesBySource",
    "Report",
    "Resumes",
    "Settings",
    "Status",
    "SweepAnswer",
    "TeamFigures",
    "TeamSetting",
]

AiMode = Literal["active", "paused"]
Action = Literal[
    "pause_activated", "interaction_blocked", "auto_resume", "force_resume", "extend_pause"
]


@dataclass(frozen=True)
class PauseState:
    conversation_id: str
    ai_mode: AiMode
    paused_at: datetime | None
    paused_until: datetime | None  # None while active, or when the pause is indefinite
    paused_by: str | None  # the attendant who paused; None for the service or an AI's handoff
    duration_minutes: int | None  # the pause's configured length; None: indefinite
    default_duration_minutes: int | None  # the conversation's effective default
    event_id: int | None  # the log row this call wrote, if any


@dataclass(frozen=True)
class HumanReplyAnswer(PauseState):
    changed: bool  # whether this reply paused or extended the pause (wrote event_id)


@dataclass(frozen=True)
class BlockedDraft:
    """A message the AI agent was refused, kept for the attendant to reuse (never in the log)."""

    event_id: int  # the refusal's interaction_blocked row
    agent_id: str
    message_id: str | None
    draft: str
    created_at: datetime


@dataclass(frozen=True)
class Status(PauseState):
    blocked_drafts: tuple[BlockedDraft, ...]  # the 10 newest kept, newest first


@dataclass(frozen=True)
class GateAnswer:
    allowed: bool
    ai_mode: AiMode
    paused_until: datetime | None
    event_id: int | None  # the interaction_blocked row, when refused


@dataclass(frozen=True)
class Decision:
    """The gate's verdict: `allowed` is True only when Takeover said so, in an answer read in
    full. `reason`: "allowed"; "paused" (a human has the conversation: the refusal is
    logged); "unavailable" (no answer in time, or a failure inside the client); "refused"
    (Takeover refused the request: a bad key, not the service key, an unknown conversation
    or URL, a misconfigured deployment; or the client has no URL for the gate, `no_url`);
    "unreadable" (an answer the client cannot read). `error` says which code when Takeover
    could not say yes: Takeover's, the client's (`timeout`, `connection_failed`, `no_url`,
    `unreadable_answer`, `answer_too_large`), `http_error` for an error answer that is not
    Takeover's JSON, or the exception's class name for a failure inside the client."""

    allowed: bool
    reason: Literal["allowed", "paused", "unavailable", "refused", "unreadable"]
    ai_mode: AiMode | None = None
    paused_until: datetime | None = None
    event_id: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Event:
    """A row of the audit trail (ai_pause_logs)."""

    id: int
    conversation_id: str
    action: Action
    reason: str | None
    duration_minutes: int | None
    # An attendant's id; "system" for auto_resume; "service" for the service on nobody's
    # behalf; an AI agent's id for interaction_blocked and for its handoff (pause_activated).
    triggered_by: str
    previous_ai_mode: AiMode
    new_ai_mode: AiMode
    message_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class EventsPage:
    events: tuple[Event, ...]
    next_cursor: str | None  # pass as `cursor` for the next page; None: no more


@dataclass(frozen=True)
class LoggedEvent:
    event_id: int


@dataclass(frozen=True)
class TeamSetting:
    team_id: str
    name: str
    default_duration_minutes: int | None  # the team's effective default
    inherits: bool
    pause_on_human_reply: bool | None  # the team's own value; None: the workspace's


@dataclass(frozen=True)
class Settings:
    workspace_id: str
    default_duration_minutes: int | None
    pause_on_human_reply: bool  # whether a human's reply (human_reply()) pauses the AI
    keep_blocked_drafts: bool  # whether the gate keeps the AI's refused drafts
    teams: tuple[TeamSetting, ...]


@dataclass(frozen=True)
class Resumes:
    auto: int
    force: int


@dataclass(frozen=True)
class PausesBySource:
    """pause_activated rows by what caused them."""

    attendant: int  # an attendant's Pause AI
    human_reply: int  # a human's reply (human_reply())
    ai_handoff: int  # an AI agent's handoff (pause() with agent_id)
    service: int  # the service on nobody's behalf


@dataclass(frozen=True)
class PauseMinutes:
    p50: float | None
    p90: float | None
    max: float | None
    count: int


@dataclass(frozen=True)
class TeamFigures:
    team_id: str | None
    name: str | None
    pauses: int
    blocked_messages: int


@dataclass(frozen=True)
class AttendantFigures:
    user_id: str
    pauses: int
    force_resumes: int
    extensions: int


@dataclass(frozen=True)
class DayFigures:
    date: date
    pauses: int
    blocked_messages: int
    auto_resumes: int
    force_resumes: int


@dataclass(frozen=True)
class Report:
    workspace_id: str
    team_id: str | None
    since: datetime
    until: datetime
    pauses: int
    resumes: Resumes
    extensions: int
    blocked_messages: int
    pauses_by_source: PausesBySource
    pause_minutes: PauseMinutes
    by_team: tuple[TeamFigures, ...]
    by_attendant: tuple[AttendantFigures, ...]
    by_day: tuple[DayFigures, ...]


@dataclass(frozen=True)
class SweepAnswer:
    resumed: int
    conversation_ids: tuple[str, ...]
    drafts_deleted: int  # blocked drafts past their retention (DRAFT_RETENTION_HOURS)


@dataclass(frozen=True)
class Endpoint:
    id: str
    workspace_id: str
    url: str
    event_types: tuple[EventType, ...] | None  # None: every type
    enabled: bool
    created_at: datetime


@dataclass(frozen=True)
class EndpointWithSecret(Endpoint):
    secret: str | None = None  # whsec_...: only when created or rotated; keep it


@dataclass(frozen=True)
class Delivery:
    webhook_id: str
    type: EventType
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class EndpointDetail(Endpoint):
    recent_deliveries: tuple[Delivery, ...]  # the last 50, newest first


@dataclass(frozen=True)
class EndpointList:
    endpoints: tuple[Endpoint, ...]


@dataclass(frozen=True)
class Deleted:
    id: str
    deleted: Literal[True]


@dataclass(frozen=True)
class DispatchAnswer:
    delivered: int
    failed: int
    pending: int


@dataclass(frozen=True)
class ExportAnswer:
    exported_rows: int
    objects: tuple[str, ...]
