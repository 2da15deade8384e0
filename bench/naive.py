"""A naive interaction gate, written only for the benchmark: what the gate would be if the
edge did the work from Python: read the conversation's state (and whether this message was
refused before), then, when it is paused, insert the interaction_blocked row. Two round
trips where the plpgsql gate makes one.

It answers what takeover_gate answers for conversations whose pause has not run out (the
benchmark gates no other). It runs on the same pool, connection and kept cursor as
PostgresDatabase.call, with statements as bytes and positional parameters: the same
driver-level care, so what differs is the design (two round trips, the logic in Python).

It is not safe under concurrency: a resume can commit between the read and the insert (the
real gate locks the row), and it does not end an expired pause. Making it safe costs more
round trips (BEGIN, SELECT ... FOR UPDATE, INSERT, COMMIT).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg_pool

READ = (
    b"select c.ai_mode::text, c.paused_until, c.pause_duration_minutes, l.id"
    b" from public.conversations c"
    b" left join public.ai_pause_logs l on l.conversation_id = c.id and l.message_id = %s"
    b" where c.id = %s"
)
WRITE = (
    b"insert into public.ai_pause_logs (conversation_id, action, duration_minutes,"
    b" triggered_by, previous_ai_mode, new_ai_mode, message_id)"
    b" values (%s, 'interaction_blocked', %s, %s, 'paused', 'paused', %s)"
    b" on conflict (conversation_id, message_id) where message_id is not null do nothing"
    b" returning id"
)
AGAIN = (
    b"select l.id from public.ai_pause_logs l where l.conversation_id = %s and l.message_id = %s"
)


def _utc(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def gate(
    pool: psycopg_pool.ConnectionPool[Any],
    conversation_id: UUID,
    message_id: str | None,
    agent_id: str,
    *,
    lean: bool = True,
) -> dict[str, Any]:
    """`lean`: on the connection's kept cursor, as PostgresDatabase.call runs; else as one
    usually writes psycopg, `connection.execute` (a new cursor per statement)."""
    with pool.connection() as connection:
        cursor = connection.calls() if lean else connection
        row = cursor.execute(READ, (message_id, conversation_id)).fetchone()
        if row is None:
            raise LookupError("conversation_not_found")
        ai_mode, paused_until, duration, blocked_before = row
        if blocked_before is not None:
            return {
                "allowed": False,
                "ai_mode": ai_mode,
                "paused_until": _utc(paused_until),
                "event_id": blocked_before,
            }
        if ai_mode == "paused" and (paused_until is None or paused_until > datetime.now(UTC)):
            inserted = cursor.execute(
                WRITE, (conversation_id, duration, agent_id, message_id)
            ).fetchone()
            if inserted is None:  # the same message, refused meanwhile
                inserted = cursor.execute(AGAIN, (conversation_id, message_id)).fetchone()
            assert inserted is not None
            return {
                "allowed": False,
                "ai_mode": "paused",
                "paused_until": _utc(paused_until),
                "event_id": inserted[0],
            }
        return {"allowed": True, "ai_mode": "active", "paused_until": None, "event_id": None}
