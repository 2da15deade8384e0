"""Many callers at once, on the real database: each transition happens once, and its log
row with it. Threads start together at a barrier and call the functions as clients do."""

from __future__ import annotations

import itertools
import json
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from uuid import UUID

import psycopg
import pytest
from werkzeug.test import TestResponse

from functions.local import demo
from tests.support import Api, actions, assert_refused, log_rows

CONVERSATION = demo.FIRST_CONVERSATION_ID
Result = TypeVar("Result")


def at_once(workers: int, work: Callable[[int], Result]) -> list[Result]:
    """Run work(0..workers-1) on as many threads, all released at the same instant."""
    barrier = threading.Barrier(workers, timeout=30)

    def run(index: int) -> Result:
        barrier.wait()
        return work(index)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run, range(workers)))


def test_twenty_simultaneous_activations_pause_once(api: Api, db: psycopg.Connection[Any]) -> None:
    body = {"conversation_id": str(CONVERSATION), "duration_minutes": 15}
    api.get("pause-status", token=api.service, conversation_id=CONVERSATION)  # warm the app

    answers = at_once(20, lambda _: api.post("pause-activate", body, token=api.attendant))

    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {200: 1, 409: 19}
    winner = next(answer.get_json() for answer in answers if answer.status_code == 200)
    for answer in answers:
        if answer.status_code == 409:
            error = answer.get_json()["error"]
            assert error["code"] == "already_paused"
            assert error["details"]["paused_until"] == winner["paused_until"]
    assert [(row["id"], row["action"]) for row in log_rows(db)] == [
        (winner["event_id"], "pause_activated")
    ]


def insert_expired_pauses(db: psycopg.Connection[Any], count: int) -> set[str]:
    """`count` conversations of the demo workspace whose 15-minute pauses ended in the past
    (deadlines a second apart), set directly in SQL: no log rows."""
    rows = db.execute(
        "insert into conversations"
        " (workspace_id, ai_mode, paused_at, paused_until, paused_by, pause_duration_minutes)"
        " select %(workspace)s, 'paused',"
        "   now() - interval '1 hour' - g * interval '1 second',"
        "   now() - interval '45 minutes' - g * interval '1 second',"
        "   %(attendant)s, 15"
        " from generate_series(1, %(count)s) g"
        " returning id::text",
        {"workspace": demo.WORKSPACE_ID, "attendant": demo.ATTENDANT_ID, "count": count},
    ).fetchall()
    return {row[0] for row in rows}


def test_overlapping_sweeps_resume_each_expired_pause_once(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    expired = insert_expired_pauses(db, 500)
    assert log_rows(db) == []

    def sweep_until_done(_: int) -> list[str]:
        resumed: list[str] = []
        for _round in range(100):
            answer = api.post("auto-resume", {"limit": 100}, token=api.service)
            assert answer.status_code == 200, answer.get_json()
            body = answer.get_json()
            assert body["resumed"] == len(body["conversation_ids"])
            if body["resumed"] == 0:
                return resumed
            resumed.extend(body["conversation_ids"])
        raise AssertionError("a sweep never came back empty")

    per_thread = at_once(10, sweep_until_done)

    answered = [conversation_id for ids in per_thread for conversation_id in ids]
    assert len(answered) == 500
    assert set(answered) == expired
    rows = log_rows(db)
    assert len(rows) == 500
    assert Counter(row["conversation_id"] for row in rows) == dict.fromkeys(expired, 1)
    assert {
        (row["action"], row["reason"], row["triggered_by"], row["duration_minutes"]) for row in rows
    } == {("auto_resume", "timer_expired", "system", 15)}
    modes = db.execute(
        "select ai_mode::text, count(*) from conversations where id = any(%s::uuid[]) group by 1",
        (list(expired),),
    ).fetchall()
    assert modes == [("active", 500)]


def test_no_block_is_logged_after_a_concurrent_resume(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    paused = api.act("pause-activate", CONVERSATION, duration_minutes=60)
    assert paused.status_code == 200
    gates = 16

    def gate_until_allowed(agent: int) -> list[dict[str, Any]]:
        """An agent asking before each message, until the AI may answer again."""
        verdicts = []
        for message in range(200):
            answer = api.act(
                "interaction-gate",
                CONVERSATION,
                message_id=f"a{agent}-m{message}",
                token=api.service,
            )
            assert answer.status_code == 200, answer.get_json()
            verdicts.append(answer.get_json())
            if verdicts[-1]["allowed"]:
                return verdicts
            met_the_pause.set()
        raise AssertionError("the gate never let the agent through after the resume")

    # The resume goes in while the gates are refusing (on a loaded machine it could
    # otherwise win the race before any gate ran, and the test would prove nothing).
    met_the_pause = threading.Event()

    def resume() -> TestResponse:
        assert met_the_pause.wait(timeout=30)
        return api.act("pause-resume", CONVERSATION, token=api.admin)

    results = at_once(
        gates + 1, lambda index: resume() if index == gates // 2 else gate_until_allowed(index)
    )

    resumed = results[gates // 2]
    assert isinstance(resumed, TestResponse)
    assert resumed.status_code == 200
    resume_id = resumed.get_json()["event_id"]
    rows = log_rows(db)
    assert [row["id"] for row in rows if row["action"] == "force_resume"] == [resume_id]
    blocked_ids = [row["id"] for row in rows if row["action"] == "interaction_blocked"]
    assert blocked_ids  # the gates did meet the pause
    assert max(blocked_ids) < resume_id
    verdicts = [verdict for result in results if isinstance(result, list) for verdict in result]
    refused = [verdict for verdict in verdicts if not verdict["allowed"]]
    assert sorted(verdict["event_id"] for verdict in refused) == sorted(blocked_ids)
    assert all(verdict["ai_mode"] == "active" for verdict in verdicts if verdict["allowed"])


def test_simultaneous_resumes_end_the_pause_once(api: Api, db: psycopg.Connection[Any]) -> None:
    api.act("pause-activate", CONVERSATION)

    answers = at_once(
        12,
        lambda _: api.act("pause-resume", CONVERSATION),
    )

    assert Counter(answer.status_code for answer in answers) == {200: 1, 409: 11}
    assert {
        answer.get_json()["error"]["code"] for answer in answers if answer.status_code == 409
    } == {"not_paused"}
    assert actions(db) == ["pause_activated", "force_resume"]


def test_an_expired_pause_touched_by_many_at_once_resumes_once(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    """Lazy expiry from gates, status reads and the cron, together: one auto_resume."""
    (expired_id,) = insert_expired_pauses(db, 1)
    conversation_id = UUID(expired_id)

    def touch(index: int) -> int:
        match index % 3:
            case 0:
                answer = api.post(
                    "interaction-gate",
                    {"conversation_id": expired_id, "message_id": f"m{index}"},
                    token=api.service,
                )
                assert answer.get_json()["allowed"] is True
            case 1:
                answer = api.get("pause-status", token=api.service, conversation_id=expired_id)
                assert answer.get_json()["ai_mode"] == "active"
            case _:
                answer = api.post("auto-resume", {}, token=api.service)
        return answer.status_code

    statuses = at_once(18, touch)

    assert set(statuses) == {200}
    assert [row["action"] for row in log_rows(db, conversation_id)] == ["auto_resume"]


def test_one_message_refused_by_many_at_once_is_logged_once(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    """The agent's retries of one message, through the gate and pause-logger together."""
    api.act("pause-activate", CONVERSATION)
    message = {"conversation_id": str(CONVERSATION), "message_id": "m-retried"}

    def refuse(index: int) -> int:
        if index % 2:
            answer = api.post("interaction-gate", message, token=api.service)
            assert answer.get_json()["allowed"] is False
        else:
            answer = api.post(
                "pause-logger", {**message, "action": "interaction_blocked"}, token=api.service
            )
        assert answer.status_code == 200, answer.get_json()
        event_id: int = answer.get_json()["event_id"]
        return event_id

    event_ids = at_once(16, refuse)

    blocked = [row for row in log_rows(db) if row["action"] == "interaction_blocked"]
    assert [(row["id"], row["message_id"]) for row in blocked] == [(event_ids[0], "m-retried")]
    assert set(event_ids) == {event_ids[0]}


def without_request_id(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer, less the id every request gets for the logs."""
    if "error" in answer:
        return {**answer, "error": {**answer["error"], "request_id": None}}
    return answer


def test_keyed_clicks_racing_unkeyed_ones_pause_once_and_answer_alike(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    """Twelve retries of one click (one Idempotency-Key) and eight other clicks, at once."""
    body = {"conversation_id": str(CONVERSATION), "duration_minutes": 30}

    def click(index: int) -> tuple[bool, TestResponse]:
        keyed = index < 12
        headers = {"Idempotency-Key": "tab-1-click-1"} if keyed else {}
        return keyed, api.post("pause-activate", body, token=api.attendant, headers=headers)

    clicks = at_once(20, click)

    assert Counter(answer.status_code for _, answer in clicks) in (
        {200: 1, 409: 19},  # an unkeyed click won: the keyed ones all replay its 409
        {200: 12, 409: 8},  # the keyed click won: its retries replay the 200
    )
    keyed_answers = {
        json.dumps(without_request_id(a.get_json()), sort_keys=True) for k, a in clicks if k
    }
    assert len(keyed_answers) == 1
    assert actions(db) == ["pause_activated"]


@pytest.mark.parametrize("function", ["pause-activate", "pause-extend", "pause-resume"])
def test_a_non_member_gets_404_at_once_while_the_row_is_locked(
    api: Api, db_url: str, function: str
) -> None:
    """Visibility first, lock second: another tenant neither waits on the row (an existence
    oracle, and a way to hold up someone else's conversation) nor learns it exists."""
    body: dict[str, Any] = {"conversation_id": str(demo.FIRST_CONVERSATION_ID)}
    if function == "pause-extend":
        body["duration_minutes"] = 15
    with psycopg.connect(db_url) as holder:
        holder.execute(
            "select 1 from conversations where id = %s for update", (demo.FIRST_CONVERSATION_ID,)
        )

        answer = api.post(function, body, token=api.outsider)

    assert_refused(answer, 404, "conversation_not_found")


def assert_modes_chain(rows: list[dict[str, Any]]) -> None:
    """Each row starts in the mode the one before it left the conversation in."""
    mode = "active"
    for row in rows:
        assert row["previous_ai_mode"] == mode, (row, rows)
        mode = row["new_ai_mode"]


def test_fifty_simultaneous_human_replies_pause_once(api: Api, db: psycopg.Connection[Any]) -> None:
    """Fifty messages of a busy human (from the inbox and echoed from a phone) at once."""
    api.get("pause-status", token=api.service, conversation_id=CONVERSATION)  # warm the app

    answers = at_once(
        50,
        lambda index: api.act(
            "human-reply",
            CONVERSATION,
            message_id=f"human-{index}",
            token=api.attendant if index % 2 else api.service,
        ),
    )

    assert {answer.status_code for answer in answers} == {200}
    rows = log_rows(db)
    assert [row["action"] for row in rows][:1] == ["pause_activated"]
    assert {row["action"] for row in rows[1:]} <= {"extend_pause"}
    assert len(rows) <= 50
    assert {row["reason"] for row in rows} == {"human_replied"}
    assert_modes_chain(rows)
    bodies = [answer.get_json() for answer in answers]
    assert sorted(body["event_id"] for body in bodies if body["changed"]) == [r["id"] for r in rows]
    assert all(body["ai_mode"] == "paused" for body in bodies)
    recorded = db.execute("select count(*) from takeover_private.human_replies").fetchone()
    assert recorded == (50,)


RESUMER = 4  # which of the racers resumes


def test_human_replies_racing_resumes_leave_a_log_whose_modes_chain(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    """A human keeps answering while the attendant hands back: each reply either extends the
    pause or, after the resume, pauses again; never a row that starts from the wrong mode."""
    replies, resumes = 8, []
    for round_ in range(3):
        mode = db.execute("select ai_mode::text from conversations where id = %s", (CONVERSATION,))
        if mode.fetchone() == ("active",):  # every reply of the last round came first
            assert api.act("human-reply", CONVERSATION).get_json()["changed"] is True

        def race(index: int, round_: int = round_) -> TestResponse:
            if index == RESUMER:
                return api.act("pause-resume", CONVERSATION, token=api.admin)
            return api.act("human-reply", CONVERSATION, message_id=f"r{round_}-{index}")

        answers = at_once(replies + 1, race)

        assert {answer.status_code for answer in answers} == {200}
        resumes.append(answers[RESUMER].get_json()["event_id"])

    rows = log_rows(db)
    assert_modes_chain(rows)
    assert [row["id"] for row in rows if row["action"] == "force_resume"] == resumes
    for before, after in itertools.pairwise(rows):
        if before["action"] == "force_resume":
            assert (after["action"], after["reason"]) == ("pause_activated", "human_replied")
    state = db.execute("select ai_mode::text from conversations where id = %s", (CONVERSATION,))
    assert state.fetchone() == (rows[-1]["new_ai_mode"],)
