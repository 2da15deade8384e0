"""interaction-gate: the AI agent asks before every send; while paused the answer is no."""

from __future__ import annotations

from uuid import UUID

import functions_framework
from flask import Request
from pydantic import Field

from functions.auth import SERVICE_ONLY, authenticate
from functions.database import database
from functions.endpoint import endpoint, read_body
from functions.models import AgentId, AiMode, Answer, MessageId, UtcDatetime
from functions.models import Request as Body


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


@functions_framework.http
@endpoint("POST")
def interaction_gate(request: Request) -> GateAnswer:
    authenticate(request, SERVICE_ONLY)
    body = read_body(request, GateRequest)
    verdict = database().call(
        "gate",
        {
            "conversation_id": body.conversation_id,
            "message_id": body.message_id,
            "agent_id": body.agent_id,
        },
    )
    return GateAnswer.model_validate(verdict)
