"""The takeover console: the reference inbox page, served by the local server at `/`.

DEVELOPMENT SERVER ONLY. The functions are deployed on their own (functions-framework,
Supabase Edge), without this blueprint. `/console/session` signs in whoever asks as the
demo attendant, the demo admin and the AI agent (a service-role token), signed with the
server's JWT secret; so it answers only clients on this machine (loopback), and never
belongs in front of a real project.

The page itself (static/index.html, app.js, style.css) talks to the functions exactly as
the inbox product would: Bearer tokens on /functions/v1/<name>.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any
from uuid import UUID

from flask import Blueprint, Response, request, send_from_directory

from functions.edge.http import error_response, json_response
from functions.local import demo
from functions.shared.config import config
from functions.shared.errors import Forbidden, Unavailable

STATIC = Path(__file__).with_name("static")
SESSION_SECONDS = 12 * 3600  # an attendant's sign-in lasts a working day

console = Blueprint("console", __name__, static_folder="static", static_url_path="/console")

# The seeded Acme conversations (supabase/seed.sql), with the customers the demo invents.
_CONVERSATIONS: list[dict[str, Any]] = [
    {
        "id": demo.FIRST_CONVERSATION_ID,
        "title": "Maria Gonzalez",
        "team": "Support",
        "subject": "Order arrived damaged",
        "opening": "Hi, my blender arrived with a cracked jar. Order #48213.",
    },
    {
        "id": UUID("7a1c0000-0000-4000-8000-0000000000c2"),
        "title": "Liam O'Connor",
        "team": "Support",
        "subject": "Can't reset my password",
        "opening": "The password reset email never shows up. I've tried three times.",
    },
    {
        "id": demo.SALES_CONVERSATION_ID,
        "title": "Priya Raman",
        "team": "Sales",
        "subject": "Pricing for 200 seats",
        "opening": "We're looking at 200 seats for our support team. Is there volume pricing?",
    },
    {
        "id": UUID("7a1c0000-0000-4000-8000-0000000000c4"),
        "title": "Jonas Weber",
        "team": "Sales",
        "subject": "Switch to the annual plan",
        "opening": "If I switch to annual billing now, what happens to this month's charge?",
    },
    {
        "id": demo.NO_TEAM_CONVERSATION_ID,
        "title": "Chen Wei",
        "team": None,
        "subject": "Question about an invoice",
        "opening": "My last invoice shows VAT twice. Can someone check?",
    },
]


@console.get("/")
def index() -> Response:
    response = send_from_directory(STATIC, "index.html")
    response.headers["Cache-Control"] = "no-store"
    return response


@console.get("/console/session")
def session() -> Response:
    """The demo identities and their tokens, for the page to act with. Without CORS, so
    no page of another origin can read them; and only for a loopback Host, so a name that
    an attacker re-points at 127.0.0.1 (DNS rebinding) gets nothing either."""
    if not (_from_this_machine(request.remote_addr) and _loopback_host(request.host)):
        return _same_origin_only(
            error_response(
                Forbidden("local_only", "The console hands out demo tokens to this machine only.")
            )
        )
    secret = config().jwt_secret
    if secret is None:
        return _same_origin_only(
            error_response(
                Unavailable(
                    "console_needs_jwt_secret",
                    "The console signs demo tokens with SUPABASE_JWT_SECRET; none is set.",
                )
            )
        )
    body = {
        "workspace_id": str(demo.WORKSPACE_ID),
        "workspace_name": "Acme Support",
        "attendant": _identity(secret, demo.ATTENDANT_ID, "Alex Rivera", "attendant"),
        "admin": _identity(secret, demo.ADMIN_ID, "Sam Okafor", "admin"),
        "agent_id": "ai_agent",
        "agent_token": demo.service_token(secret, SESSION_SECONDS),
        "conversations": [{**c, "id": str(c["id"])} for c in _CONVERSATIONS],
        # So the webhook form says which URLs this server takes (http:// and private
        # addresses only with WEBHOOKS_ALLOW_PRIVATE_URLS, make run's default).
        "webhooks_allow_private_urls": config().webhooks_allow_private_urls,
        # So Settings says how long the AI's blocked drafts are kept.
        "draft_retention_hours": config().draft_retention_hours,
    }
    return _same_origin_only(json_response(200, json.dumps(body), {"Cache-Control": "no-store"}))


def _same_origin_only(response: Response) -> Response:
    for header in list(response.headers.keys()):
        if header.lower().startswith("access-control-"):
            del response.headers[header]
    return response


def _loopback_host(host: str) -> bool:
    """Whether the Host header names this machine: localhost or a loopback address."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    return _from_this_machine(name)


def _identity(secret: str, user_id: UUID, name: str, role: str) -> dict[str, str]:
    return {
        "user_id": str(user_id),
        "name": name,
        "role": role,
        "token": demo.attendant_token(secret, user_id, SESSION_SECONDS),
    }


def _from_this_machine(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
