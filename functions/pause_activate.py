"""pause-activate: an attendant takes the conversation over; the AI agent stops answering.
The service may also pass an AI agent's `agent_id`: the AI hands the conversation to a human."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field, model_validator

from functions.database.instance import database
from functions.edge.http import Call, Function, Route
from functions.edge.identity import CallerKind, transition_arguments
from functions.shared.errors import Forbidden
from functions.shared.models import AgentId, Duration, PauseState, Reason
from functions.shared.models import Request as Body


class ActivateRequest(Body):
    conversation_id: UUID
    duration_minutes: Duration | None = Field(
        None, description="Absent: the conversation's effective default. null: indefinite."
    )
    reason: Reason | None = None
    triggered_by: UUID | None = Field(None, description="Service only: the attendant acted for.")
    agent_id: AgentId | None = Field(
        None,
        description="Service only, never with triggered_by: the AI agent handing the "
        "conversation to a human (the log row's triggered_by).",
    )

    @model_validator(mode="after")
    def _one_actor(self) -> ActivateRequest:
        if self.triggered_by is not None and self.agent_id is not None:
            raise ValueError("give triggered_by (an attendant) or agent_id (an AI agent), not both")
        return self


def activate(call: Call[ActivateRequest]) -> PauseState:
    body = call.input
    if body.agent_id is not None and call.caller.kind is not CallerKind.SERVICE:
        raise Forbidden("agent_id_not_allowed", "Only the service may hand over for an AI agent.")
    # An absent duration is the effective default; null, an indefinite pause.
    arguments = transition_arguments(call.caller, body)
    arguments["use_default"] = "duration_minutes" not in body.model_fields_set
    return PauseState.model_validate(database().call("activate", arguments, call.options))


FUNCTION = Function(
    "pause-activate",
    Route("POST", activate, "Pause the AI on a conversation", idempotent=True),
)
