"""The demo workspace of supabase/seed.sql: loading it, and tokens to act in it."""

from __future__ import annotations

import time
from uuid import UUID

import jwt
import psycopg

from functions.migrations import ROOT

SEED = ROOT / "supabase" / "seed.sql"
# Four weeks of ended pauses for the console's Reports view: make run only, never the tests.
DEMO_HISTORY = ROOT / "supabase" / "demo_history.sql"

WORKSPACE_ID = UUID("7a1c0000-0000-4000-8000-000000000001")
OTHER_WORKSPACE_ID = UUID("7a1c0000-0000-4000-8000-000000000002")
SALES_TEAM_ID = UUID("7a1c0000-0000-4000-8000-0000000000a1")
SUPPORT_TEAM_ID = UUID("7a1c0000-0000-4000-8000-0000000000a2")
ATTENDANT_ID = UUID("7a1c0000-0000-4000-8000-0000000000b1")
ADMIN_ID = UUID("7a1c0000-0000-4000-8000-0000000000b2")
FIRST_CONVERSATION_ID = UUID("7a1c0000-0000-4000-8000-0000000000c1")  # Support team
SALES_CONVERSATION_ID = UUID("7a1c0000-0000-4000-8000-0000000000c3")  # Sales: 120 min
NO_TEAM_CONVERSATION_ID = UUID("7a1c0000-0000-4000-8000-0000000000c5")
OTHER_ADMIN_ID = UUID("7a1c0000-0000-4000-8000-0000000000b9")  # Globex's admin only
OTHER_CONVERSATION_ID = UUID("7a1c0000-0000-4000-8000-0000000000c9")  # in Globex

_DAY = 24 * 3600


def attendant_token(secret: str, user_id: UUID, lifetime_seconds: int = _DAY) -> str:
    """A token like the one Supabase Auth gives a signed-in user."""
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "role": "authenticated",
        "aud": "authenticated",
        "iat": now,
        "exp": now + lifetime_seconds,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def service_token(secret: str, lifetime_seconds: int = 365 * _DAY) -> str:
    """A key like Supabase's service role key."""
    now = int(time.time())
    claims = {
        "role": "service_role",
        "iss": "supabase-demo",
        "iat": now,
        "exp": now + lifetime_seconds,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def seed_if_empty(url: str) -> bool:
    """Load the demo workspace into a database that has none; whether it did."""
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute("select exists (select 1 from public.workspaces)").fetchone()
        if row and row[0]:
            return False
        with connection.transaction():
            connection.execute(SEED.read_text())
    return True


def load_history(url: str) -> None:
    """Add the demo workspace's past takeovers (make run, right after seeding)."""
    with psycopg.connect(url, autocommit=True) as connection, connection.transaction():
        connection.execute(DEMO_HISTORY.read_text())
