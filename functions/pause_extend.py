"""pause-extend: more time for the human, or no timer at all."""

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


class ExtendRequest(Body):
    conversation_id: UUID
    duration_minutes: Duration | None = Field(
        description="Minutes added to paused_until; null makes the pause indefinite."
    )
    reason: Reason | None = None
    triggered_by: UUID | None = Field(None, description="Service only: the attendant acted for.")


@functions_framework.http
@endpoint("POST")
def pause_extend(request: Request) -> PauseState:
    caller = authenticate(request, ANYONE)
    body = read_body(request, ExtendRequest)
    state = database().call(
        "extend",
        {
            "conversation_id": body.conversation_id,
            **actor(caller, body.triggered_by),
            "duration_minutes": body.duration_minutes,
            "reason": body.reason,
            **idempotency(request, "pause-extend", body),
        },
    )
    return PauseState.model_validate(state)
