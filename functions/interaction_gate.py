"""interaction-gate: the AI agent asks before every send; while paused the answer is no."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import Field, StringConstraints

from functions.database.instance import database
from functions.edge.http import Call, Function, Route
from functions.edge.identity import SERVICE_ONLY
from functions.shared.models import AgentId, AiMode, Answer, MessageId, UtcDatetime
from functions.shared.models import Request as Body

# The message the agent was about to send (the database holds 1 to 8,000 characters too).
Draft = Annotated[str, StringConstraints(min_length=1, max_length=8000)]


class GateRequest(Body):
    conversation_id: UUID
    message_id: MessageId | None = Field(
        None, description="The agent's id for this message: a second ask gets the same answer."
    )
    agent_id: AgentId = "ai_agent"
    draft: Draft | None = Field(
        None,
        description="The message about to be sent: when refused, it is kept for the attendant "
        "(pause-status's blocked_drafts), never in the log.",
    )


class GateAnswer(Answer):
    allowed: bool = Field(description="false: discard the message, do not send it.")
    ai_mode: AiMode
    paused_until: UtcDatetime | None
    event_id: int | None = Field(description="The interaction_blocked row, when refused.")


def gate(call: Call[GateRequest]) -> GateAnswer:
    return GateAnswer.model_validate(database().call("gate", call.input.model_dump(), call.options))


FUNCTION = Function(
    "interaction-gate",
    Route(
        "POST",
        gate,
        "May the AI agent send this message?",
        callers=SERVICE_ONLY,
        deduped_by="message_id",
    ),
)
