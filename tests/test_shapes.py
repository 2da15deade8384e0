"""Each shape is declared once, and the copies that must exist are checked against it: the
Python mirrors of the database's enums, the event types, and a log row's JSON
(takeover_private.log_events) against the models the functions answer with."""

from __future__ import annotations

from typing import Any

import psycopg

from functions.local import demo
from functions.shared.models import Action, AiMode, Event
from functions.webhooks.events import EVENT_TYPES, LogEventData
from tests.support import Api


def enum(db: psycopg.Connection[Any], name: str) -> list[str]:
    row = db.execute(f"select enum_range(null::public.{name})::text[]").fetchone()
    assert row is not None
    return list(row[0])


def test_the_python_enums_mirror_the_databases(db: psycopg.Connection[Any]) -> None:
    assert [action.value for action in Action] == enum(db, "ai_pause_action")
    assert [mode.value for mode in AiMode] == enum(db, "ai_mode")


def test_the_event_types_are_the_databases(db: psycopg.Connection[Any]) -> None:
    row = db.execute("select public.takeover_webhook_event_types()").fetchone()
    assert row is not None
    assert tuple(row[0]) == EVENT_TYPES


def test_a_log_rows_json_is_the_event_and_where_it_left_the_conversation(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    api.act("pause-activate", demo.FIRST_CONVERSATION_ID)
    row = db.execute(
        "select event::jsonb from takeover_private.log_events order by id limit 1"
    ).fetchone()
    assert row is not None
    built = set(row[0])

    assert built == set(Event.model_fields) | {"workspace_id", "paused_until"}
    assert set(LogEventData.model_fields) == built | {"team_id", "ai_mode"}
