"""auto-resume: the cron ends every pause whose timer ran out, once each, and deletes the
blocked drafts past their retention."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from functions.database.instance import database
from functions.edge.http import Call, Function, Route
from functions.edge.identity import SERVICE_ONLY
from functions.shared.config import config
from functions.shared.models import Answer
from functions.shared.models import Request as Body


class SweepRequest(Body):
    limit: int = Field(
        1000, ge=1, le=10000, description="At most this many pauses (and drafts) per call."
    )


class SweepAnswer(Answer):
    resumed: int
    conversation_ids: list[UUID]
    drafts_deleted: int = Field(description="Blocked drafts past DRAFT_RETENTION_HOURS deleted.")


def sweep(call: Call[SweepRequest]) -> SweepAnswer:
    return SweepAnswer.model_validate(
        database().call(
            "sweep",
            {
                "limit": call.input.limit,
                "draft_retention_hours": config().draft_retention_hours,
            },
            call.options,
        )
    )


FUNCTION = Function(
    "auto-resume",
    # Each expired pause is resumed once however often the sweep runs.
    Route(
        "POST",
        sweep,
        "End every expired pause (the cron)",
        callers=SERVICE_ONLY,
        retry_safe=True,
    ),
    schedule="* * * * *",
)
