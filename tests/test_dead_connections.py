"""Pooled connections that died while Postgres stayed up (every backend terminated, a
pooler restarted) cost no caller a 503 when a retry is safe: a read, a gate or logger call
with a message_id, a transition with an Idempotency-Key. The adapter drops the dead idle
connections and sends the call once more. An unsafe call may answer 503, never write twice.

Through CI's pooler leg (DATABASE_URL: PgBouncer) the kill hits PgBouncer's server
connections; the PgBouncer restart test starts its own (skipped without pgbouncer unless
REQUIRE_PGBOUNCER=1)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from functions.database.instance import database
from functions.database.postgres import PostgresDatabase
from functions.local import demo
from tests import pgbouncer
from tests.conftest import functions_on
from tests.databases import database_url
from tests.reliability.pooler import Bouncer
from tests.support import Api, lock_waiters, log_rows, wait_until

CONVERSATION = demo.FIRST_CONVERSATION_ID
IDLE_CONNECTIONS = 4


@contextmanager
def functions_on_a_warm_pool(url: str) -> Iterator[Api]:
    """The functions on a pool on `url` that already holds several idle connections."""
    with functions_on(url, min_size=IDLE_CONNECTIONS, max_size=8) as functions:
        pool = database()  # the one functions_on put in place
        assert isinstance(pool, PostgresDatabase)
        pool._pool.connections.wait(timeout=10)
        yield functions


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    """Here, the functions' pool holds idle connections from the start: the ones to kill."""
    with functions_on_a_warm_pool(db_url) as functions:
        yield functions


@pytest.fixture
def kill_every_backend(
    server_url: str, db_name: str, db: psycopg.Connection[Any]
) -> Callable[[], int]:
    """pg_terminate_backend on every connection to the test's database but its own and the
    test's `db` (the functions' pool, or PgBouncer's server connections); returns how many,
    once they are gone."""

    def kill() -> int:
        kept = [db.info.backend_pid]
        with psycopg.connect(database_url(server_url, db_name), autocommit=True) as admin:
            others = "datname = current_database() and pid <> pg_backend_pid() and pid <> all(%s)"
            row = admin.execute(
                f"select count(*) filter (where pg_terminate_backend(pid)) from pg_stat_activity"
                f" where {others}",
                (kept,),
            ).fetchone()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                left = admin.execute(
                    f"select count(*) from pg_stat_activity where {others}", (kept,)
                )
                if left.fetchone() == (0,):
                    break
                time.sleep(0.02)
        return int(row[0]) if row else 0

    return kill


def _pause(api: Api) -> None:
    body = {"conversation_id": str(CONVERSATION), "duration_minutes": 30}
    assert api.post("pause-activate", body, token=api.service).status_code == 200


def _blocked(db: psycopg.Connection[Any], message_id: str | None) -> list[dict[str, Any]]:
    return [
        row
        for row in log_rows(db, CONVERSATION)
        if row["action"] == "interaction_blocked" and row["message_id"] == message_id
    ]


def test_a_read_after_every_connection_was_killed_answers_200(
    api: Api, kill_every_backend: Callable[[], int]
) -> None:
    assert kill_every_backend() >= 1

    answer = api.get("pause-status", token=api.attendant, conversation_id=CONVERSATION)

    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["ai_mode"] == "active"


def test_a_gate_with_a_message_id_after_the_kill_answers_200_and_logs_once(
    api: Api, kill_every_backend: Callable[[], int], db: psycopg.Connection[Any]
) -> None:
    _pause(api)
    kill_every_backend()

    body = {"conversation_id": str(CONVERSATION), "message_id": "m-after-kill"}
    answer = api.post("interaction-gate", body, token=api.service)

    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["allowed"] is False
    rows = _blocked(db, "m-after-kill")
    assert [row["id"] for row in rows] == [answer.get_json()["event_id"]]


def test_an_activate_with_an_idempotency_key_after_the_kill_answers_200_and_pauses_once(
    api: Api, kill_every_backend: Callable[[], int], db: psycopg.Connection[Any]
) -> None:
    kill_every_backend()

    answer = api.post(
        "pause-activate",
        {"conversation_id": str(CONVERSATION), "reason": "after-kill"},
        token=api.service,
        headers={"Idempotency-Key": "after-kill-1"},
    )

    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["ai_mode"] == "paused"
    activated = [row for row in log_rows(db, CONVERSATION) if row["action"] == "pause_activated"]
    assert [row["reason"] for row in activated] == ["after-kill"]


def test_a_gate_without_a_message_id_after_the_kill_may_503_but_never_writes_twice(
    api: Api, kill_every_backend: Callable[[], int], db: psycopg.Connection[Any]
) -> None:
    _pause(api)
    kill_every_backend()

    answer = api.post("interaction-gate", {"conversation_id": str(CONVERSATION)}, token=api.service)

    assert answer.status_code in {200, 503}, answer.get_json()
    if answer.status_code == 503:
        assert answer.headers["Retry-After"]
    assert len(_blocked(db, None)) == (1 if answer.status_code == 200 else 0)
    # The dead connections were dropped with it: the next call, unsafe too, finds a live one.
    again = api.post("interaction-gate", {"conversation_id": str(CONVERSATION)}, token=api.service)
    assert again.status_code == 200
    assert len(_blocked(db, None)) == (2 if answer.status_code == 200 else 1)


def test_after_a_pgbouncer_restart_reads_and_keyed_calls_answer_200(
    server_url: str, db_name: str, db: psycopg.Connection[Any]
) -> None:
    """A restarted pooler closes every client connection at once, with Postgres up."""
    pgbouncer.require()
    with (
        Bouncer(server_url) as bouncer,
        functions_on_a_warm_pool(bouncer.url(database_url(server_url, db_name))) as api,
    ):
        _pause(api)
        bouncer.restart()
        read = api.get("pause-status", token=api.attendant, conversation_id=CONVERSATION)
        bouncer.restart()
        body = {"conversation_id": str(CONVERSATION), "message_id": "m-after-restart"}
        gate = api.post("interaction-gate", body, token=api.service)

    assert read.status_code == 200, read.get_json()
    assert read.get_json()["ai_mode"] == "paused"
    assert gate.status_code == 200, gate.get_json()
    assert [row["id"] for row in _blocked(db, "m-after-restart")] == [gate.get_json()["event_id"]]


def test_a_call_killed_mid_statement_was_not_applied_so_even_an_unsafe_one_goes_again(
    api: Api, server_url: str, db_name: str, db: psycopg.Connection[Any]
) -> None:
    """Its backend's FATAL came before any answer row, and the row goes out before the
    commit: nothing was written, so the gate without a message_id is sent again."""
    _pause(api)
    with (
        psycopg.connect(database_url(server_url, db_name)) as holder,
        ThreadPoolExecutor(1) as pool,
    ):
        holder.execute("select 1 from conversations where id = %s for update", (CONVERSATION,))
        body = {"conversation_id": str(CONVERSATION)}
        pending = pool.submit(api.post, "interaction-gate", body, token=api.service)
        waiting = wait_until(lambda: lock_waiters(db), 5, "the gate never waited for the lock")[0]
        db.execute("select pg_terminate_backend(%s)", (waiting,))
        holder.rollback()
        answer = pending.result(timeout=10)

    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["allowed"] is False
    assert [row["id"] for row in _blocked(db, None)] == [answer.get_json()["event_id"]]
