"""webhook-dispatch: send the webhook deliveries that are due (the cron, and make run)."""

from __future__ import annotations

from pydantic import Field

from functions.database.instance import database
from functions.edge.http import Call, Function, Route
from functions.edge.identity import SERVICE_ONLY
from functions.shared.models import RETRY_SAFE, Answer
from functions.shared.models import Request as Body
from functions.webhooks.dispatcher import dispatcher


class DispatchRequest(Body):
    limit: int = Field(1000, ge=1, le=1000, description="At most this many deliveries per call.")


class DispatchAnswer(Answer):
    delivered: int = Field(description="Deliveries answered with a 2xx in this call.")
    failed: int = Field(description="Attempts that failed in this call (retried later or failed).")
    pending: int = Field(description="Deliveries still pending after this call, due or not.")


def dispatch(call: Call[DispatchRequest]) -> DispatchAnswer:
    db = database()
    result = dispatcher().run(db, call.input.limit)
    pending = db.call("webhook_pending", {}, RETRY_SAFE)["pending"]
    return DispatchAnswer(delivered=result.delivered, failed=result.failed, pending=pending)


FUNCTION = Function(
    "webhook-dispatch",
    Route("POST", dispatch, "Send the webhook deliveries that are due", callers=SERVICE_ONLY),
    schedule="10 seconds",
)
