"""pause-status: the conversation's pause state (ending an expired pause first), with what
the AI would have said meanwhile."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from functions.database.instance import database
from functions.edge.http import Call, Function, Route
from functions.shared.models import Answer, PauseState, UtcDatetime
from functions.shared.models import Request as Query


class StatusQuery(Query):
    conversation_id: UUID


class BlockedDraft(Answer):
    event_id: int = Field(description="The interaction_blocked row of the refusal.")
    agent_id: str
    message_id: str | None
    draft: str = Field(description="The message the AI agent was about to send.")
    created_at: UtcDatetime


class Status(PauseState):
    blocked_drafts: list[BlockedDraft] = Field(
        description="The AI's refused messages kept for reuse: the 10 newest, newest first."
    )


def status(call: Call[StatusQuery]) -> Status:
    arguments = call.input.model_dump() | {"caller": call.caller.attendant_id}
    return Status.model_validate(database().call("status", arguments, call.options))


FUNCTION = Function(
    "pause-status",
    Route("GET", status, "The pause state of a conversation", source="query"),
)
