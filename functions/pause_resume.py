"""pause-resume: the attendant hands the conversation back to the AI before the timer."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from functions.database.instance import database
from functions.edge.http import Call, Function, Route
from functions.edge.identity import transition_arguments
from functions.shared.models import PauseState, Reason
from functions.shared.models import Request as Body


class ResumeRequest(Body):
    conversation_id: UUID
    reason: Reason | None = None
    triggered_by: UUID | None = Field(None, description="Service only: the attendant acted for.")


def resume(call: Call[ResumeRequest]) -> PauseState:
    arguments = transition_arguments(call.caller, call.input)
    return PauseState.model_validate(database().call("resume", arguments, call.options))


FUNCTION = Function(
    "pause-resume",
    Route("POST", resume, "Hand the conversation back to the AI", idempotent=True),
)
