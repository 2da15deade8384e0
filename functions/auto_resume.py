"""auto-resume: the cron ends every pause whose timer ran out, once each."""

from __future__ import annotations

from uuid import UUID

import functions_framework
from flask import Request
from pydantic import Field

from functions.auth import SERVICE_ONLY, authenticate
from functions.database import database
from functions.endpoint import endpoint, read_body
from functions.models import Answer
from functions.models import Request as Body


class SweepRequest(Body):
    limit: int = Field(1000, ge=1, le=10000, description="At most this many pauses per call.")


class SweepAnswer(Answer):
    resumed: int
    conversation_ids: list[UUID]


@functions_framework.http
@endpoint("POST")
def auto_resume(request: Request) -> SweepAnswer:
    authenticate(request, SERVICE_ONLY)
    body = read_body(request, SweepRequest)
    return SweepAnswer.model_validate(database().call("sweep", {"limit": body.limit}))
