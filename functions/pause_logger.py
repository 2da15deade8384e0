"""pause-logger: the audit trail. GET reads it; POST records a send the agent refused itself."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from functions.database.instance import database
from functions.edge.http import Call, Function, Route
from functions.edge.identity import SERVICE_ONLY
from functions.shared.models import (
    Action,
    AgentId,
    Answer,
    Event,
    IsoDatetime,
    MessageId,
    Reason,
)
from functions.shared.models import Request as Body


class EventsQuery(Body):
    conversation_id: UUID | None = None
    action: Action | None = None
    since: IsoDatetime | None = Field(None, description="Events at or after this time.")
    until: IsoDatetime | None = Field(None, description="Events before this time.")
    limit: int = Field(100, ge=1, le=1000)
    cursor: str | None = Field(
        None, pattern=r"^[0-9]{1,18}$", description="next_cursor of the previous page."
    )


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


def read_events(call: Call[EventsQuery]) -> EventsPage:
    query = call.input
    arguments = query.model_dump(exclude={"cursor"}) | {
        "caller": call.caller.attendant_id,
        "after_id": int(query.cursor) if query.cursor else None,
    }
    # One conversation's trail costs its page; a listing of whole workspaces may read far
    # more than a page (a rare action, a long window).
    options = call.options if query.conversation_id else call.options.as_heavy_read()
    return EventsPage.model_validate(database().call("events", arguments, options))


def record_blocked(call: Call[BlockedEvent]) -> LoggedEvent:
    arguments = call.input.model_dump(exclude={"action"})
    return LoggedEvent.model_validate(database().call("log_blocked", arguments, call.options))


FUNCTION = Function(
    "pause-logger",
    Route("GET", read_events, "Read the audit trail", source="query"),
    Route(
        "POST",
        record_blocked,
        "Record a send the agent refused by itself",
        callers=SERVICE_ONLY,
        deduped_by="message_id",
    ),
)
