"""pause-status: the conversation's pause state (ending an expired pause first)."""

from __future__ import annotations

from uuid import UUID

import functions_framework
from flask import Request

from functions.auth import ANYONE, authenticate
from functions.database import database
from functions.endpoint import endpoint, read_query
from functions.models import PauseState
from functions.models import Request as Query


class StatusQuery(Query):
    conversation_id: UUID


@functions_framework.http
@endpoint("GET")
def pause_status(request: Request) -> PauseState:
    caller = authenticate(request, ANYONE)
    query = read_query(request, StatusQuery)
    state = database().call(
        "status", {"conversation_id": query.conversation_id, "caller": caller.attendant_id}
    )
    return PauseState.model_validate(state)
