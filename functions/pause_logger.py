"""pause-logger: the audit trail. GET reads it; POST records a send the agent refused itself."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

import functions_framework
from flask import Request
from pydantic import Field

from functions.auth import ANYONE, SERVICE_ONLY, authenticate
from functions.database import database
from functions.endpoint import endpoint, read_body, read_query
from functions.models import (
    Action,
    AgentId,
    AiMode,
    Answer,
    IsoDatetime,
    MessageId,
    Reason,
    UtcDatetime,
)
from functions.models import Request as Body


class EventsQuery(Body):
    conversation_id: UUID | None = None
    action: Action | None = None
    since: IsoDatetime | None = Field(None, description="Events at or after this time.")
    until: IsoDatetime | None = Field(None, description="Events before this time.")
    limit: int = Field(100, ge=1, le=1000)
    cursor: str | None = Field(
        None, pattern=r"^[0-9]{1,18}$", description="next_cursor of the previous page."
    )


class Event(Answer):
    id: int
    conversation_id: UUID
    action: Action
    reason: str | None
    duration_minutes: int | None
    triggered_by: str
    previous_ai_mode: AiMode
    new_ai_mode: AiMode
    message_id: str | None
    created_at: UtcDatetime


class EventsPage(Answer):
    events: list[Event]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null: no more.")


class BlockedEvent(Body):
    conversation_id: UUID
    action: Literal["interaction_blocked"] = Field(
        description="The only action written through this path; the others are written by "
        "the transitions that cause them."
    )
    message_id: MessageId | None = None
    agent_id: AgentId = "ai_agent"
    reason: Reason | None = None


class LoggedEvent(Answer):
    event_id: int


@functions_framework.http
@endpoint("GET", "POST")
def pause_logger(request: Request) -> EventsPage | LoggedEvent:
    if request.method == "POST":
        return _record_blocked(request)
    return _read_events(request)


def _read_events(request: Request) -> EventsPage:
    caller = authenticate(request, ANYONE)
    query = read_query(request, EventsQuery)
    page = database().call(
        "events",
        {
            "caller": caller.attendant_id,
            "conversation_id": query.conversation_id,
            "action": query.action,
            "since": query.since,
            "until": query.until,
            "after_id": int(query.cursor) if query.cursor else None,
            "limit": query.limit,
        },
    )
    return EventsPage.model_validate(page)


def _record_blocked(request: Request) -> LoggedEvent:
    authenticate(request, SERVICE_ONLY)
    body = read_body(request, BlockedEvent)
    logged = database().call(
        "log_blocked",
        {
            "conversation_id": body.conversation_id,
            "message_id": body.message_id,
            "agent_id": body.agent_id,
            "reason": body.reason,
        },
    )
    return LoggedEvent.model_validate(logged)
