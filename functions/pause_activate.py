"""pause-activate: an attendant takes the conversation over; the AI agent stops answering."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from functions.database.instance import database
from functions.shared.http import Call, Function, Route
from functions.shared.identity import actor
from functions.shared.models import Duration, PauseState, Reason
from functions.shared.models import Request as Body


class ActivateRequest(Body):
    conversation_id: UUID
    duration_minutes: Duration | None = Field(
        None, description="Absent: the conversation's effective default. null: indefinite."
    )
    reason: Reason | None = None
    triggered_by: UUID | None = Field(None, description="Service only: the attendant acted for.")


def activate(call: Call[ActivateRequest]) -> PauseState:
    body = call.input
    state = database().call(
        "activate",
        {
            "conversation_id": body.conversation_id,
            **actor(call.caller, body.triggered_by),
            "duration_minutes": body.duration_minutes,
            "use_default": "duration_minutes" not in body.model_fields_set,
            "reason": body.reason,
            **call.idempotency,
        },
        # A retry with the key replays the first answer; without one it could apply twice.
        retry_safe=call.idempotency["idempotency_key"] is not None,
    )
    return PauseState.model_validate(state)


FUNCTION = Function(
    "pause-activate",
    Route("POST", activate, "Pause the AI on a conversation", idempotent=True),
)
