"""pause-status: the conversation's pause state (ending an expired pause first)."""

from __future__ import annotations

from uuid import UUID

from functions.database.instance import database
from functions.shared.http import Call, Function, Route
from functions.shared.models import PauseState
from functions.shared.models import Request as Query


class StatusQuery(Query):
    conversation_id: UUID


def status(call: Call[StatusQuery]) -> PauseState:
    state = database().call(
        "status",
        {"conversation_id": call.input.conversation_id, "caller": call.caller.attendant_id},
        retry_safe=True,  # a read; its lazy expiry writes one auto_resume at most
    )
    return PauseState.model_validate(state)


FUNCTION = Function(
    "pause-status",
    Route("GET", status, "The pause state of a conversation", source="query"),
)
