"""pause-extend: more time for the human, or no timer at all."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from functions.database.instance import database
from functions.edge.http import Call, Function, Route
from functions.edge.identity import transition_arguments
from functions.shared.models import Duration, PauseState, Reason
from functions.shared.models import Request as Body


class ExtendRequest(Body):
    conversation_id: UUID
    duration_minutes: Duration | None = Field(
        description="Minutes added to paused_until; null makes the pause indefinite."
    )
    reason: Reason | None = None
    triggered_by: UUID | None = Field(None, description="Service only: the attendant acted for.")


def extend(call: Call[ExtendRequest]) -> PauseState:
    arguments = transition_arguments(call.caller, call.input)
    return PauseState.model_validate(database().call("extend", arguments, call.options))


FUNCTION = Function(
    "pause-extend",
    Route("POST", extend, "Extend a pause, or make it indefinite", idempotent=True),
)
