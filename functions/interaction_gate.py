"""interaction-gate: the AI agent asks before every send; while paused the answer is no."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from functions.database.instance import database
from functions.shared.http import Call, Function, Route
from functions.shared.identity import SERVICE_ONLY
from functions.shared.models import AgentId, AiMode, Answer, MessageId, UtcDatetime
from functions.shared.models import Request as Body


class GateRequest(Body):
    conversation_id: UUID
    message_id: MessageId | None = Field(
        None, description="The agent's id for this message: a second ask gets the same answer."
    )
    agent_id: AgentId = "ai_agent"


class GateAnswer(Answer):
    allowed: bool = Field(description="false: discard the message, do not send it.")
    ai_mode: AiMode
    paused_until: UtcDatetime | None
    event_id: int | None = Field(description="The interaction_blocked row, when refused.")


def gate(call: Call[GateRequest]) -> GateAnswer:
    body = call.input
    verdict = database().call(
        "gate",
        {
            "conversation_id": body.conversation_id,
            "message_id": body.message_id,
            "agent_id": body.agent_id,
        },
        # The database dedupes by message_id: a second run writes no second row.
        retry_safe=body.message_id is not None,
    )
    return GateAnswer.model_validate(verdict)


FUNCTION = Function(
    "interaction-gate",
    Route("POST", gate, "May the AI agent send this message?", callers=SERVICE_ONLY),
)
