"""What 7d serves: the production app (functions/catalogue/app.py) plus a no-op function, POST
/functions/v1/bench-noop, that goes through the same edge as interaction-gate (method,
token, body, answer model, log line) and answers without the database: the baseline.

    gunicorn bench.gunicorn_app:app
"""

from __future__ import annotations

from flask import Response, request

from functions.catalogue.app import production_app
from functions.edge.http import Call, Function, Route
from functions.edge.identity import SERVICE_ONLY
from functions.interaction_gate import GateAnswer, GateRequest
from functions.shared.models import AiMode


def noop(call: Call[GateRequest]) -> GateAnswer:
    return GateAnswer(allowed=True, ai_mode=AiMode.ACTIVE, paused_until=None, event_id=None)


NOOP = Function("bench-noop", Route("POST", noop, "The gate's edge, no database.", SERVICE_ONLY))


def _noop_view() -> Response:
    return NOOP.handle(request)


app = production_app()
app.add_url_rule(
    "/functions/v1/bench-noop", endpoint="bench-noop", view_func=_noop_view, methods=["POST"]
)
