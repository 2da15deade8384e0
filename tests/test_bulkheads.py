"""Bulkheads: heavy reads (reports, log listings, the audit export) run on their own few
connections under their own statement timeout, so whatever they do the gate and the
transitions find a connection. Slow readers are audit exports waiting on the export's state
row, which the test holds (the gate and the transitions never touch it)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import psycopg
import pytest
from werkzeug.test import TestResponse

from functions.local import demo
from functions.shared.config import ConfigurationError, config
from tests.conftest import SetEnv, functions_on
from tests.support import Api, assert_refused, lock_waiters, snapshot, wait_until

CONVERSATION = demo.FIRST_CONVERSATION_ID
OTHER = demo.NO_TEAM_CONVERSATION_ID
HEAVY_CONNECTIONS = 2


@pytest.fixture
def bulkheaded(api: Api, db_url: str, setenv: SetEnv) -> Iterator[Callable[..., Api]]:
    """The functions on an adapter made with these variables, of two connections for the
    gate and the transitions and HEAVY_CONNECTIONS for heavy reads."""
    with ExitStack() as made:

        def make(**variables: str) -> Api:
            setenv(**variables)
            return made.enter_context(
                functions_on(db_url, max_size=2, heavy_size=HEAVY_CONNECTIONS)
            )

        yield make


@pytest.fixture
def export_held(
    db: psycopg.Connection[Any], bucket: dict[str, str]
) -> Iterator[psycopg.Connection[Any]]:
    """An export's bucket, and its state row held by another transaction: an export run's
    first statement (its reservation locks that row) waits, on a heavy connection, until
    that transaction ends."""
    db.execute(
        "insert into takeover_private.audit_export_state default values on conflict do nothing"
    )
    with psycopg.connect(db.info.dsn) as holder:
        holder.execute("select 1 from takeover_private.audit_export_state for update")
        yield holder
        holder.rollback()


def exports(api: Api) -> TestResponse:
    return api.post("audit-export", {}, token=api.service)


def export_state(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return db.execute("select * from takeover_private.audit_export_state").fetchall()


def log_size(db: psycopg.Connection[Any]) -> int:
    row = db.execute("select count(*) from ai_pause_logs").fetchone()
    assert row is not None
    return int(row[0])


def in_threads(count: int, call: Callable[[], TestResponse]) -> tuple[list[Any], list[Any]]:
    """`count` threads making `call`; the threads, and the answers as they come."""
    answers: list[TestResponse] = []
    threads = [threading.Thread(target=lambda: answers.append(call())) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads, answers


def test_slow_heavy_readers_hold_only_their_own_connections(
    bulkheaded: Callable[..., Api],
    db: psycopg.Connection[Any],
    export_held: psycopg.Connection[Any],
) -> None:
    api = bulkheaded(DATABASE_TIMEOUT_SECONDS="1", HEAVY_READ_TIMEOUT_SECONDS="60")

    # Given as many slow heavy readers as the heavy class has connections, each holding one
    readers, answers = in_threads(HEAVY_CONNECTIONS, lambda: exports(api))
    wait_until(lambda: len(lock_waiters(db)) == HEAVY_CONNECTIONS, 30, "the readers never waited")

    # Another heavy read finds none free: 503, after waiting DATABASE_TIMEOUT_SECONDS for one
    report = api.get("pause-report", token=api.attendant, workspace_id=demo.WORKSPACE_ID)
    assert_refused(report, 503, "database_unavailable")
    assert report.headers["Retry-After"]

    # The gate and a transition answer from their own pool, while the readers still wait
    gate = api.act("interaction-gate", CONVERSATION, token=api.service, message_id="m-1")
    assert gate.status_code == 200
    assert gate.get_json()["allowed"] is True
    paused = api.act("pause-activate", OTHER, duration_minutes=30)
    assert paused.status_code == 200
    assert len(lock_waiters(db)) == HEAVY_CONNECTIONS
    assert all(reader.is_alive() for reader in readers)
    assert answers == []

    # Once the lock goes, the readers answer, and between them export each row once
    export_held.rollback()
    for reader in readers:
        reader.join(timeout=30)
    assert [answer.status_code for answer in answers] == [200] * HEAVY_CONNECTIONS
    assert sum(answer.get_json()["exported_rows"] for answer in answers) == log_size(db) == 1


def test_a_heavy_read_past_its_statement_timeout_is_a_503_that_changes_nothing(
    bulkheaded: Callable[..., Api],
    db: psycopg.Connection[Any],
    export_held: psycopg.Connection[Any],
) -> None:
    api = bulkheaded(HEAVY_READ_TIMEOUT_SECONDS="0.5")
    assert api.act("pause-activate", CONVERSATION, duration_minutes=15).status_code == 200
    before = snapshot(db), export_state(db)

    # The export waits on the held row past HEAVY_READ_TIMEOUT_SECONDS
    answer = exports(api)

    assert_refused(answer, 503, "database_unavailable")
    assert answer.headers["Retry-After"]
    assert (snapshot(db), export_state(db)) == before
    # The next run, unhindered, exports what that one could not
    export_held.rollback()
    answer = exports(api)
    assert answer.status_code == 200
    assert answer.get_json()["exported_rows"] == log_size(db) == 1


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HEAVY_READ_POOL_SIZE", "0"),
        ("HEAVY_READ_POOL_SIZE", "many"),
        ("HEAVY_READ_TIMEOUT_SECONDS", "0"),
        ("HEAVY_READ_TIMEOUT_SECONDS", "inf"),
        ("HEAVY_READ_TIMEOUT_SECONDS", "soon"),
    ],
)
def test_a_bad_heavy_read_setting_is_refused_by_name(
    setenv: SetEnv, variable: str, value: str
) -> None:
    setenv(**{variable: value})
    with pytest.raises(ConfigurationError, match=f"^Bad configuration: {variable}="):
        config()
