"""auto-resume: the cron ends every pause whose timer ran out, once each."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from functions.database.instance import database
from functions.shared.http import Call, Function, Route
from functions.shared.identity import SERVICE_ONLY
from functions.shared.models import Answer
from functions.shared.models import Request as Body


class SweepRequest(Body):
    limit: int = Field(1000, ge=1, le=10000, description="At most this many pauses per call.")


class SweepAnswer(Answer):
    resumed: int
    conversation_ids: list[UUID]


def sweep(call: Call[SweepRequest]) -> SweepAnswer:
    return SweepAnswer.model_validate(
        database().call("sweep", {"limit": call.input.limit}, retry_safe=True)
    )


FUNCTION = Function(
    "auto-resume",
    Route("POST", sweep, "End every expired pause (the cron)", callers=SERVICE_ONLY),
    schedule="* * * * *",
)
