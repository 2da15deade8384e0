"""pause-activate: an attendant takes the conversation over; the AI agent stops answering."""

from __future__ import annotations

from uuid import UUID

import functions_framework
from flask import Request
from pydantic import Field

from functions.auth import ANYONE, authenticate
from functions.database import database
from functions.endpoint import endpoint, idempotency, read_body
from functions.models import Duration, PauseState, Reason
from functions.models import Request as Body
from functions.on_behalf import actor


class ActivateRequest(Body):
    conversation_id: UUID
    duration_minutes: Duration | None = Field(
        None, description="Absent: the conversation's effective default. null: indefinite."
    )
    reason: Reason | None = None
    triggered_by: UUID | None = Field(None, description="Service only: the attendant acted for.")


@functions_framework.http
@endpoint("POST")
def pause_activate(request: Request) -> PauseState:
    caller = authenticate(request, ANYONE)
    body = read_body(request, ActivateRequest)
    state = database().call(
        "activate",
        {
            "conversation_id": body.conversation_id,
            **actor(caller, body.triggered_by),
            "duration_minutes": body.duration_minutes,
            "use_default": "duration_minutes" not in body.model_fields_set,
            "reason": body.reason,
            **idempotency(request, "pause-activate", body),
        },
    )
    return PauseState.model_validate(state)
