"""pause-resume: the attendant hands the conversation back to the AI before the timer."""

from __future__ import annotations

from uuid import UUID

import functions_framework
from flask import Request
from pydantic import Field

from functions.auth import ANYONE, authenticate
from functions.database import database
from functions.endpoint import endpoint, idempotency, read_body
from functions.models import PauseState, Reason
from functions.models import Request as Body
from functions.on_behalf import actor


class ResumeRequest(Body):
    conversation_id: UUID
    reason: Reason | None = None
    triggered_by: UUID | None = Field(None, description="Service only: the attendant acted for.")


@functions_framework.http
@endpoint("POST")
def pause_resume(request: Request) -> PauseState:
    caller = authenticate(request, ANYONE)
    body = read_body(request, ResumeRequest)
    state = database().call(
        "resume",
        {
            "conversation_id": body.conversation_id,
            **actor(caller, body.triggered_by),
            "reason": body.reason,
            **idempotency(request, "pause-resume", body),
        },
    )
    return PauseState.model_validate(state)
