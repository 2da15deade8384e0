"""The reliability suite, short: a soak of every function by a dozen workers for a few
seconds on the suite's own embedded Postgres (.data/reliability-test), while it kills every
connection twice and stops and starts the server once; then the same through PgBouncer,
which is also stopped and started once; then a few workers beside a noisy neighbour.
`make reliability` runs the long ones; docs/reliability.md says what is checked.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from functions.local import demo
from functions.webhooks.dispatcher import LEASES_PER_WORKSPACE
from tests import pgbouncer
from tests.reliability.neighbours import Neighbours, NeighbourSettings
from tests.reliability.postgres import EmbeddedPostgres
from tests.reliability.replay import HUMAN_REPLIED, Conversation, LogRow, Shift, replay
from tests.reliability.report import render
from tests.reliability.soak import Load, Settings, SoakReport, run_soak
from tests.support import Api, expire, log_rows

SHORT = Settings(
    seconds=8,
    workers=12,
    conversations=60,
    kills=2,
    restarts=1,
    outage_seconds=1.5,
    db_timeout_seconds=2,
    clock_interval_seconds=0.2,
    seed=20261125,
)


def soak(settings: Settings, load: Load | None = None) -> tuple[SoakReport, str]:
    """A soak on the suite's embedded Postgres: its report, and the report as a table for
    the assertions' messages."""
    report = run_soak(settings, EmbeddedPostgres("reliability-test"), load)
    return report, render([report], [])


def assert_came_through(report: SoakReport, table: str, faults: list[str]) -> None:
    """The soak kept every invariant through these faults, in this order: it did work, it
    killed connections, and no call that found its connection dead failed for it (a 503
    outside a fault's window); the function process was never replaced; no log row was
    lost or written twice."""
    assert report.ok, table
    assert [window.kind for window in report.faults] == faults, table
    assert report.server_pid_kept, table
    assert report.status_counts()[200] > 100, table
    assert report.unexplained_503 == 0, table
    assert sum(window.killed for window in report.faults) > 0, table
    assert report.lost_rows == report.duplicated_rows == 0, table


def test_a_short_soak_under_database_faults_keeps_every_invariant() -> None:
    report, table = soak(SHORT)

    assert_came_through(report, table, ["kill backends", "restart server", "kill backends"])
    assert report.status_counts()[503] > 0, table  # the restart did bite
    assert report.audit_rows["auto_resume"] > 0, table  # pauses ran out during the run
    assert report.latency(1) <= SHORT.latency_bound_seconds, table


POOLER_SHORT = replace(SHORT, pooler=True, pooler_restarts=1)


def test_a_short_soak_through_pgbouncer_under_its_faults_keeps_every_invariant() -> None:
    """The functions through PgBouncer in transaction mode, while its server connections
    are killed, it is stopped and started, and Postgres behind it is too."""
    pgbouncer.require()
    report, table = soak(POOLER_SHORT)

    assert_came_through(
        report, table, ["kill backends", "restart pooler", "restart server", "kill backends"]
    )


NEIGHBOURS_SHORT = replace(SHORT, workers=4, kills=0, restarts=0, neighbours=True)
QUIET_NEIGHBOUR = NeighbourSettings(
    rows=20_000,
    readers=4,
    silent_endpoints=12,
    noisy_conversations=10,
    drain_seconds=60,
    webhook_timeout_seconds=2,
)


def test_a_short_soak_beside_a_noisy_neighbour_keeps_every_invariant() -> None:
    """Globex's silent endpoints, its events for them and its heavy readers beside Acme's
    workers: the soak's invariants hold, every Acme log row reaches Acme's receiver (once,
    signed, nothing of Globex's), and Globex never holds more than its share of the leases.
    Only invariants here: the leg's timing figures are make reliability's."""
    load = Neighbours(QUIET_NEIGHBOUR, NEIGHBOURS_SHORT.seconds)
    report, table = soak(NEIGHBOURS_SHORT, load)

    assert report.ok, table
    assert report.faults == [], table
    assert report.status_counts()[200] > 50, table
    # The storm did blow: heavy reads, Globex's events, and its silent endpoints tried.
    assert load.calls.of("pause-report"), table
    assert load.calls.of("pause-logger GET"), table
    assert load.silent_attempts[0] > 0, table
    assert 0 < load.most_leases <= LEASES_PER_WORKSPACE, table
    assert load.attempts, table  # Acme's events were delivered


def test_a_repeated_message_after_the_timer_gets_the_auto_resume_first(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    """Found by the soak: the contract says a pause past its timer is over everywhere, and
    the first function that touches the conversation writes the auto_resume first. A
    message refused once stays refused (allowed false, the same event), but the state the
    gate reports must be the real one."""
    conversation = str(demo.FIRST_CONVERSATION_ID)
    body = {"conversation_id": conversation, "duration_minutes": 15}
    assert api.post("pause-activate", body, token=api.service).status_code == 200
    ask = {"conversation_id": conversation, "message_id": "m-1"}
    first = api.post("interaction-gate", ask, token=api.service).get_json()
    assert first["allowed"] is False
    expire(db, demo.FIRST_CONVERSATION_ID)

    again = api.post("interaction-gate", ask, token=api.service).get_json()

    assert again["allowed"] is False
    assert again["event_id"] == first["event_id"]
    assert [row["action"] for row in log_rows(db)][-1] == "auto_resume"
    assert again["ai_mode"] == "active"
    assert again["paused_until"] is None


# The checker itself: a trail that contradicts itself is caught ---------------------------

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CONVERSATION = UUID(int=1)


def _row(id_: int, action: str, minutes: int | None, at: timedelta) -> LogRow:
    return LogRow(id_, CONVERSATION, action, None, minutes, None, T0 + at)


def _reply(id_: int, action: str, minutes: int | None, at: timedelta) -> LogRow:
    """A row human-reply wrote."""
    return LogRow(id_, CONVERSATION, action, HUMAN_REPLIED, minutes, None, T0 + at)


def _state(
    ai_mode: str = "active",
    paused_at: datetime | None = None,
    minutes: int | None = None,
) -> Conversation:
    until = paused_at + timedelta(minutes=minutes) if paused_at and minutes else None
    return Conversation(CONVERSATION, ai_mode, paused_at, until, minutes)


SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
TRAILS: dict[str, tuple[list[LogRow], list[Shift], Conversation, set[str]]] = {
    "pause, extend, block, resume": (
        [
            _row(1, "pause_activated", 15, 0 * SECOND),
            _row(2, "extend_pause", 15, SECOND),
            _row(3, "interaction_blocked", 30, 2 * SECOND),
            _row(4, "force_resume", 30, 3 * SECOND),
        ],
        [],
        _state(),
        set(),
    ),
    "paused now, moved into the past by the clock, ended by the timer": (
        [
            _row(1, "pause_activated", 15, 0 * SECOND),
            _row(2, "auto_resume", 15, 10 * SECOND),
        ],
        [Shift(1, CONVERSATION, 15 * MINUTE - 5 * SECOND, 1)],
        _state(),
        set(),
    ),
    "still paused, as the log says": (
        [_row(1, "pause_activated", 30, 0 * SECOND)],
        [],
        _state("paused", T0, 30),
        set(),
    ),
    "two auto_resume for one pause": (
        [
            _row(1, "pause_activated", 15, 0 * SECOND),
            _row(2, "auto_resume", 15, 16 * MINUTE),
            _row(3, "auto_resume", 15, 17 * MINUTE),
        ],
        [],
        _state(),
        {"auto_resume outside a pause"},
    ),
    "blocked outside a pause": (
        [
            _row(1, "pause_activated", 15, 0 * SECOND),
            _row(2, "force_resume", 15, SECOND),
            _row(3, "interaction_blocked", 15, 2 * SECOND),
        ],
        [],
        _state(),
        {"interaction_blocked outside a pause"},
    ),
    "blocked after the timer ran out, no auto_resume": (
        [
            _row(1, "pause_activated", 15, 0 * SECOND),
            _row(2, "interaction_blocked", 15, 16 * MINUTE),
        ],
        [],
        _state("paused", T0, 15),
        {
            "interaction_blocked after the timer ran out",
            "expired pause still paused after auto-resume",
        },
    ),
    "auto_resume before the timer": (
        [
            _row(1, "pause_activated", 15, 0 * SECOND),
            _row(2, "auto_resume", 15, MINUTE),
        ],
        [],
        _state(),
        {"auto_resume before the timer ran out"},
    ),
    "a transition half-written: the state moved, the log did not": (
        [_row(1, "pause_activated", 15, 0 * SECOND)],
        [],
        _state("paused", T0, 30),
        {"state differs from the replayed log"},
    ),
    "a human's replies: the end slides to the reply plus the default, whole minutes": (
        [
            _reply(1, "pause_activated", 30, 0 * SECOND),
            _reply(2, "extend_pause", 30, 10 * MINUTE + SECOND),  # ends at 41 minutes
            _reply(3, "extend_pause", 30, 12 * MINUTE),  # ends at 42 minutes
        ],
        [],
        _state("paused", T0, 42),
        set(),
    ),
    "a reply that extended a pause ending later already": (
        [
            _reply(1, "pause_activated", 30, 0 * SECOND),
            _reply(2, "extend_pause", 15, MINUTE),
        ],
        [],
        _state("paused", T0, 30),
        {
            "a reply extended a pause that ended later already",
            "state differs from the replayed log",
        },
    ),
    "a resume logged but the conversation still paused": (
        [
            _row(1, "pause_activated", 15, 0 * SECOND),
            _row(2, "force_resume", 15, SECOND),
        ],
        [],
        _state("paused", T0, 15),
        {"state differs from the replayed log"},
    ),
}


@pytest.mark.parametrize("name", TRAILS)
def test_the_replay_catches_what_it_must(name: str) -> None:
    rows, shifts, state, expected = TRAILS[name]

    swept_at = max(row.created_at for row in rows) + SECOND  # the cron ran after the last row

    found = replay(state, rows, shifts, swept_at)

    assert {violation.kind for violation in found} == expected, found
