"""Bulkheads: heavy reads (reports, log listings, the audit export) run on their own few
connections under their own statement timeout, so whatever they do the gate and the
transitions find a connection. Slow readers are audit exports waiting on the export's state
row, which the test holds (the gate and the transitions never touch it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from werkzeug.test import TestResponse

from functions.database.instance import use_database
from functions.database.interface import Database
from functions.database.postgres import PostgresDatabase
from functions.local import demo
from functions.shared.config import ConfigurationError, config
from tests.conftest import JWT_SECRET
from tests.support import Api, assert_refused, snapshot

CONVERSATION = demo.FIRST_CONVERSATION_ID
OTHER = demo.NO_TEAM_CONVERSATION_ID
HEAVY_CONNECTIONS = 2


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The configuration read again after the test sets its variables, and after it."""
    yield
    monkeypatch.undo()
    config.cache_clear()


@pytest.fixture
def bulkheaded(
    api: Api, db_url: str, monkeypatch: pytest.MonkeyPatch, configured: None
) -> Iterator[Callable[..., Api]]:
    """The functions on an adapter made with these variables, of two connections for the
    gate and the transitions and HEAVY_CONNECTIONS for heavy reads."""
    made: list[PostgresDatabase] = []
    replaced: list[Database | None] = []

    def make(**variables: str) -> Api:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        config.cache_clear()
        database = PostgresDatabase(db_url, max_size=2, heavy_size=HEAVY_CONNECTIONS)
        made.append(database)
        replaced.append(use_database(database))
        return Api(JWT_SECRET)

    yield make
    if replaced:
        use_database(replaced[0])
    for database in made:
        database.close()


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


def waiting_on_locks(db: psycopg.Connection[Any]) -> int:
    row = db.execute(
        "select count(*) from pg_stat_activity"
        " where datname = current_database() and wait_event_type = 'Lock'"
    ).fetchone()
    assert row is not None
    return int(row[0])


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.02)


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
    wait_until(lambda: waiting_on_locks(db) == HEAVY_CONNECTIONS)

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
    assert waiting_on_locks(db) == HEAVY_CONNECTIONS
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
@pytest.mark.usefixtures("configured")
def test_a_bad_heavy_read_setting_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    config.cache_clear()
    with pytest.raises(ConfigurationError, match=f"^Bad configuration: {variable}="):
        config()
