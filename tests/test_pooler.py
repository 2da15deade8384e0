"""The functions through a transaction-mode pooler (Debian's PgBouncer 1.18, as Supabase's
Supavisor on 6543 would be): no startup options, nothing prepared, no session state, so
every call works under concurrency, and a held lock or a hung pooler still ends in 503
within DATABASE_TIMEOUT_SECONDS.

Skipped where pgbouncer is not installed, unless REQUIRE_PGBOUNCER=1 (CI sets it)."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from functions.local import demo
from tests import pgbouncer
from tests.conftest import SetEnv, functions_on
from tests.databases import database_url
from tests.support import Api, log_rows

PAUSED = demo.FIRST_CONVERSATION_ID
ACTIVE = demo.SALES_CONVERSATION_ID


@pytest.fixture(scope="module")
def pooler(server_url: str) -> Iterator[str]:
    pgbouncer.require()
    with pgbouncer.running(server_url) as running:
        yield running.url


@pytest.fixture
def timeout_seconds(setenv: SetEnv) -> float:
    """A short DATABASE_TIMEOUT_SECONDS for the adapters created in the test."""
    setenv(DATABASE_TIMEOUT_SECONDS="1")
    return 1.0


@pytest.fixture
def pooled(pooler: str, db_name: str) -> Iterator[Api]:
    """The functions on the test's database, through the pooler."""
    with functions_on(database_url(pooler, db_name), max_size=32) as functions:
        yield functions


def test_400_concurrent_gate_calls_through_the_pooler_all_answer(
    pooled: Api, db: psycopg.Connection[Any]
) -> None:
    paused = pooled.post("pause-activate", {"conversation_id": str(PAUSED)}, token=pooled.service)
    assert paused.status_code == 200

    def gate(index: int) -> tuple[int, Any]:
        conversation = PAUSED if index % 2 else ACTIVE
        body = {"conversation_id": str(conversation), "message_id": f"m-{index % 100}"}
        answer = pooled.post("interaction-gate", body, token=pooled.service)
        return answer.status_code, answer.get_json()

    with ThreadPoolExecutor(max_workers=64) as threads:
        answers = list(threads.map(gate, range(400)))

    assert Counter(status for status, _ in answers) == {200: 400}
    assert {body["allowed"] for status, body in answers if body["ai_mode"] == "paused"} == {False}
    assert Counter(body["allowed"] for _, body in answers) == {True: 200, False: 200}
    # Each paused message id (the odd ones of 0..99) was logged once, however often it came.
    blocked = [row for row in log_rows(db, PAUSED) if row["action"] == "interaction_blocked"]
    assert sorted(row["message_id"] for row in blocked) == sorted(
        f"m-{index}" for index in range(1, 100, 2)
    )


def test_a_held_row_lock_answers_503_within_the_timeout_through_the_pooler(
    timeout_seconds: float, pooled: Api, server_url: str, db_name: str
) -> None:
    body = {"conversation_id": str(ACTIVE), "message_id": "m-1"}
    assert pooled.post("interaction-gate", body, token=pooled.service).status_code == 200
    with psycopg.connect(database_url(server_url, db_name)) as holder:
        holder.execute("select 1 from conversations where id = %s for update", (ACTIVE,))
        started = time.monotonic()
        answer = pooled.post(
            "pause-activate", {"conversation_id": str(ACTIVE)}, token=pooled.service
        )
        elapsed = time.monotonic() - started
        holder.rollback()

    assert answer.status_code == 503
    assert answer.get_json()["error"]["code"] == "database_unavailable"
    assert answer.headers["Retry-After"]
    assert timeout_seconds <= elapsed < timeout_seconds + 1.5
    # The timeout was the call's own: the next call, on whatever server connection, works.
    again = pooled.post("pause-activate", {"conversation_id": str(ACTIVE)}, token=pooled.service)
    assert again.status_code == 200


def test_no_setting_outlives_a_call_on_the_pooled_server_connections(
    pooled: Api, pooler: str, db_name: str
) -> None:
    for index in range(20):
        body = {"conversation_id": str(ACTIVE), "message_id": f"m-{index}"}
        assert pooled.post("interaction-gate", body, token=pooled.service).status_code == 200

    with psycopg.connect(database_url(pooler, db_name), autocommit=True) as client:
        timeouts = {
            client.execute("show statement_timeout", prepare=False).fetchone() for _ in range(20)
        }
        prepared = client.execute("select count(*) from pg_prepared_statements").fetchone()
    assert timeouts == {("0",)}
    assert prepared == (0,)


def test_a_hung_pooler_answers_503_within_the_timeout_plus_the_client_grace(
    timeout_seconds: float, server_url: str, db_name: str
) -> None:
    with (
        pgbouncer.running(server_url) as own_pooler,
        functions_on(database_url(own_pooler.url, db_name), max_size=2) as api,
    ):
        body = {"conversation_id": str(ACTIVE), "message_id": "m-1"}
        assert api.post("interaction-gate", body, token=api.service).status_code == 200
        process = own_pooler.process.pid
        os.kill(process, signal.SIGSTOP)  # the pooler stops answering; TCP stays up
        try:
            started = time.monotonic()
            answer = api.post("interaction-gate", body, token=api.service)
            elapsed = time.monotonic() - started
        finally:
            os.kill(process, signal.SIGCONT)

    assert answer.status_code == 503
    assert answer.get_json()["error"]["code"] == "database_unavailable"
    assert elapsed < timeout_seconds + 2
