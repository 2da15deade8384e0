"""Whatever a caller sends, the answer is a 4xx in the contract's error shape, never a 500,
and a refused request changes nothing.

The scene makes "changes nothing" mean something: the Support conversation's pause has
expired (any call that reached it would write its auto_resume) and the Sales conversation is
paused for an hour (any extend or resume that got through would write a row).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from werkzeug.test import TestResponse

from functions.catalogue import functions_by_name
from functions.local import demo
from tests.support import (
    Api,
    assert_refused,
    function_app,
    log_rows,
    pause_live_and_expired,
    snapshot,
)

EXPIRED = str(demo.FIRST_CONVERSATION_ID)  # Support: paused 15 min, timer run out
LIVE = str(demo.SALES_CONVERSATION_ID)  # Sales: paused for an hour
WORKSPACE = str(demo.WORKSPACE_ID)
TEAM = str(demo.SALES_TEAM_ID)
NOT_A_UUID = "7a1c0000-0000-4000-8000-0000000000c"  # one hex digit short

_ABSENT = object()


@dataclass(frozen=True)
class Bad:
    """One bad request and the refusal the contract promises for it."""

    method: str
    function: str
    status: int
    code: str
    body: Any = _ABSENT
    raw: bytes | None = None
    query: dict[str, Any] | None = None
    caller: str = "attendant"  # an Api attribute: attendant, admin, service
    headers: dict[str, str] = field(default_factory=dict)


def post(
    function: str, body: Any, caller: str = "attendant", code: str = "validation_failed"
) -> Bad:
    return Bad("POST", function, 422, code, body=body, caller=caller)


def activate(**fields: Any) -> Bad:
    return post("pause-activate", {"conversation_id": EXPIRED, **fields})


def extend(**fields: Any) -> Bad:
    return post("pause-extend", {"conversation_id": LIVE, **fields})


def gate(**fields: Any) -> Bad:
    return post("interaction-gate", {"conversation_id": LIVE, **fields}, caller="service")


def blocked(**fields: Any) -> Bad:
    body = {"conversation_id": LIVE, "action": "interaction_blocked", **fields}
    return post("pause-logger", body, caller="service")


def unstorable(function: str, caller: str = "attendant", **fields: Any) -> Bad:
    """Text the model lets through and Postgres cannot store: 422 invalid_value."""
    return post(function, {"conversation_id": EXPIRED, **fields}, caller, "invalid_value")


def query(function: str, caller: str = "attendant", **parameters: Any) -> Bad:
    return Bad("GET", function, 422, "validation_failed", query=parameters, caller=caller)


def events(**parameters: Any) -> Bad:
    return query("pause-logger", conversation_id=EXPIRED, **parameters)


def settings(body: Any, caller: str = "admin") -> Bad:
    return Bad("PUT", "pause-settings", 422, "validation_failed", body=body, caller=caller)


def sweep(body: Any) -> Bad:
    return post("auto-resume", body, caller="service")


def unreadable(raw: bytes, function: str = "pause-activate", caller: str = "attendant") -> Bad:
    return Bad("POST", function, 400, "invalid_json", raw=raw, caller=caller)


def duplicated(function: str, raw: str, caller: str = "attendant") -> Bad:
    return Bad("POST", function, 400, "duplicate_key", raw=raw.encode(), caller=caller)


IMPERSONATING_AGENT_IDS = [
    ("system", "system"),
    ("System", "System"),
    ("SYSTEM", "SYSTEM"),
    ("service", "service"),
    ("Service", "Service"),
    ("sErViCe", "sErViCe"),
    ("leading-space", " system"),
    ("trailing-space", "system "),
    ("trailing-newline", "ai_agent\n"),
    ("tab-inside", "ai\tagent"),
    ("zero-width-space", "sys\u200btem"),
    ("cyrillic-s", "\u0455ystem"),
    ("fullwidth", "\uff53\uff59\uff53\uff54\uff45\uff4d"),
    ("attendant-uuid", str(demo.ATTENDANT_ID)),
    ("uuid-upper-case", str(demo.ADMIN_ID).upper()),
    ("uuid-without-hyphens", demo.ADMIN_ID.hex),
    ("uuid-in-braces", f"{{{demo.ADMIN_ID}}}"),
    ("uuid-urn", demo.ADMIN_ID.urn),
]


def too_large(function: str, method: str = "POST", caller: str = "service") -> Bad:
    padding = "x" * (100 * 1024)
    body = {"conversation_id": EXPIRED, "reason": padding}
    return Bad(method, function, 413, "body_too_large", body=body, caller=caller)


BAD_INPUT = [
    # -- a body that is not JSON: 400 -------------------------------------------------
    pytest.param(unreadable(b"{not json"), id="unreadable-json"),
    pytest.param(unreadable(b'{"conversation_id": "'), id="truncated-json"),
    pytest.param(unreadable(f"conversation_id={EXPIRED}".encode()), id="form-encoded"),
    pytest.param(unreadable(b"\xff\xfe\x00{"), id="not-utf8"),
    pytest.param(unreadable(b"{'conversation_id': 1}"), id="single-quotes"),
    pytest.param(unreadable(b'{"a": 1,}', "pause-resume"), id="trailing-comma"),
    pytest.param(unreadable(b"{not json", "interaction-gate", "service"), id="gate-unreadable"),
    pytest.param(unreadable(b"[", "auto-resume", "service"), id="sweep-unreadable"),
    pytest.param(unreadable(b"{", "pause-logger", "service"), id="logger-unreadable"),
    pytest.param(
        Bad("PUT", "pause-settings", 400, "invalid_json", raw=b"{oops", caller="admin"),
        id="settings-unreadable",
    ),
    # -- JSON, but not an object: 422 ---------------------------------------------------
    pytest.param(post("pause-activate", []), id="array-body"),
    pytest.param(post("pause-activate", [{"conversation_id": EXPIRED}]), id="array-of-object"),
    pytest.param(post("pause-activate", "conversation"), id="string-body"),
    pytest.param(post("pause-activate", 42), id="number-body"),
    pytest.param(post("pause-activate", True), id="boolean-body"),
    pytest.param(
        Bad("POST", "pause-activate", 422, "validation_failed", raw=b"null"), id="null-body"
    ),
    pytest.param(Bad("POST", "pause-activate", 422, "validation_failed"), id="empty-body"),
    pytest.param(post("pause-resume", ["x"]), id="resume-array-body"),
    pytest.param(post("auto-resume", [], caller="service"), id="sweep-array-body"),
    pytest.param(settings([]), id="settings-array-body"),
    # -- missing or wrongly typed fields -------------------------------------------------
    pytest.param(post("pause-activate", {}), id="missing-conversation-id"),
    pytest.param(post("pause-activate", {"conversation_id": 123}), id="conversation-id-number"),
    pytest.param(post("pause-activate", {"conversation_id": None}), id="conversation-id-null"),
    pytest.param(post("pause-activate", {"conversation_id": [EXPIRED]}), id="conversation-id-list"),
    pytest.param(
        post("pause-activate", {"conversation_id": {"id": EXPIRED}}), id="conversation-id-object"
    ),
    pytest.param(activate(duration_minutes="30"), id="duration-string"),
    pytest.param(activate(duration_minutes=True), id="duration-true"),
    pytest.param(activate(duration_minutes=False), id="duration-false"),
    pytest.param(activate(duration_minutes=[30]), id="duration-list"),
    pytest.param(activate(duration_minutes=30.5), id="duration-fraction"),
    pytest.param(activate(reason=123), id="reason-number"),
    pytest.param(activate(reason=["busy"]), id="reason-list"),
    pytest.param(extend(), id="extend-missing-duration"),
    pytest.param(extend(duration_minutes="15"), id="extend-duration-string"),
    pytest.param(post("pause-resume", {"conversation_id": 7}), id="resume-id-number"),
    pytest.param(gate(message_id=42), id="gate-message-id-number"),
    pytest.param(gate(agent_id=None), id="gate-agent-id-null"),
    pytest.param(
        post("pause-activate", {"conversation_id": EXPIRED, "triggered_by": 1}, "service"),
        id="triggered-by-number",
    ),
    # -- unknown fields are refused, not ignored -------------------------------------------
    pytest.param(activate(paused_by=str(demo.ADMIN_ID)), id="activate-unknown-paused-by"),
    pytest.param(activate(ai_mode="paused"), id="activate-unknown-ai-mode"),
    pytest.param(activate(durationMinutes=30), id="activate-camel-case"),
    pytest.param(extend(duration_minutes=15, until="2030-01-01"), id="extend-unknown-field"),
    pytest.param(
        post("pause-resume", {"conversation_id": LIVE, "force": True}), id="resume-unknown-field"
    ),
    pytest.param(gate(reason="why"), id="gate-unknown-reason"),
    pytest.param(sweep({"limit": 5, "dry_run": True}), id="sweep-unknown-field"),
    pytest.param(blocked(duration_minutes=30), id="logger-unknown-field"),
    # -- durations outside 15, 30, 60, 120 -------------------------------------------------
    *[
        pytest.param(activate(duration_minutes=minutes), id=f"activate-duration-{minutes}")
        for minutes in (0, 1, 45, -15, 10000, 2**40)
    ],
    *[
        pytest.param(extend(duration_minutes=minutes), id=f"extend-duration-{minutes}")
        for minutes in (0, 45, -15, 10000)
    ],
    pytest.param(
        Bad(
            "POST",
            "pause-activate",
            422,
            "validation_failed",
            raw=f'{{"conversation_id": "{EXPIRED}", "duration_minutes": 1e400}}'.encode(),
        ),
        id="duration-overflowing-float",
    ),
    # -- ids that are not uuids ------------------------------------------------------------
    pytest.param(post("pause-activate", {"conversation_id": "not-a-uuid"}), id="id-word"),
    pytest.param(post("pause-activate", {"conversation_id": ""}), id="id-empty"),
    pytest.param(post("pause-activate", {"conversation_id": NOT_A_UUID}), id="id-short"),
    pytest.param(
        post("pause-activate", {"conversation_id": EXPIRED + "0"}), id="id-one-digit-too-many"
    ),
    pytest.param(
        post("pause-extend", {"conversation_id": "c1", "duration_minutes": 15}), id="extend-id"
    ),
    pytest.param(post("pause-resume", {"conversation_id": "c3"}), id="resume-id"),
    pytest.param(gate(conversation_id="c3"), id="gate-id"),
    pytest.param(blocked(conversation_id="c3"), id="logger-post-id"),
    pytest.param(
        post("pause-activate", {"conversation_id": EXPIRED, "triggered_by": "b1"}, "service"),
        id="triggered-by-not-uuid",
    ),
    pytest.param(
        settings({"workspace_id": "acme", "default_duration_minutes": 60}),
        id="settings-workspace-id",
    ),
    pytest.param(settings({"team_id": "sales", "inherit": True}), id="settings-team-id"),
    # -- strings over their length ---------------------------------------------------------
    pytest.param(activate(reason="r" * 501), id="activate-reason-501"),
    pytest.param(extend(duration_minutes=15, reason="r" * 501), id="extend-reason-501"),
    pytest.param(
        post("pause-resume", {"conversation_id": LIVE, "reason": "r" * 501}), id="resume-reason-501"
    ),
    pytest.param(blocked(message_id="m-1", reason="r" * 501), id="logger-reason-501"),
    pytest.param(gate(message_id=""), id="gate-message-id-empty"),
    pytest.param(gate(message_id="m" * 201), id="gate-message-id-201"),
    pytest.param(gate(agent_id=""), id="gate-agent-id-empty"),
    pytest.param(gate(agent_id="a" * 101), id="gate-agent-id-101"),
    pytest.param(blocked(message_id=""), id="logger-message-id-empty"),
    pytest.param(blocked(message_id="m" * 201), id="logger-message-id-201"),
    pytest.param(blocked(message_id="m-1", agent_id=""), id="logger-agent-id-empty"),
    # -- an agent id that reads as another actor in triggered_by: the timer, the service, an
    # attendant (a uuid), or one of them behind a look-alike or invisible character ---------
    *[
        pytest.param(gate(message_id="m-1", agent_id=agent), id=f"gate-agent-id-{name}")
        for name, agent in IMPERSONATING_AGENT_IDS
    ],
    *[
        pytest.param(blocked(message_id="m-1", agent_id=agent), id=f"logger-agent-id-{name}")
        for name, agent in IMPERSONATING_AGENT_IDS
    ],
    # -- a key twice in one object: the parser would keep the last one ----------------------
    pytest.param(
        duplicated(
            "pause-activate",
            f'{{"conversation_id": "{EXPIRED}", "duration_minutes": 15, "duration_minutes": null}}',
        ),
        id="duplicate-duration-the-last-would-make-it-indefinite",
    ),
    pytest.param(
        duplicated(
            "pause-activate",
            f'{{"conversation_id": "{EXPIRED}", "conversation_id": "{EXPIRED}"}}',
        ),
        id="duplicate-with-the-same-value",
    ),
    pytest.param(
        duplicated(
            "pause-activate",
            f'{{"conversation_id": "{EXPIRED}", "duration_minutes": 15,'
            ' "duration_minute\\u0073": null}',
        ),
        id="duplicate-spelled-with-an-escape",
    ),
    pytest.param(
        duplicated(
            "pause-activate",
            f'{{"conversation_id": "{EXPIRED}", "reason": "a \\"quoted\\" reason",'
            ' "duration_minutes": 15, "duration_minutes": 30}',
        ),
        id="duplicate-beside-an-escaped-quote",
    ),
    pytest.param(
        duplicated(
            "pause-activate",
            f'{{"conversation_id": "{EXPIRED}", "extra": {{"a": 1, "b": [{{"c": 1, "c": 2}}]}}}}',
        ),
        id="duplicate-in-a-nested-object",
    ),
    pytest.param(
        duplicated(
            "pause-extend",
            f'{{"conversation_id": "{LIVE}", "duration_minutes": null, "duration_minutes": 15}}',
        ),
        id="extend-duplicate",
    ),
    pytest.param(
        duplicated(
            "interaction-gate",
            f'{{"conversation_id": "{LIVE}", "agent_id": "bot", "agent_id": "system"}}',
            "service",
        ),
        id="gate-duplicate-agent-id",
    ),
    # ... but the same key in two objects is no repeat: these are refused as the model says
    pytest.param(post("pause-activate", [{"a": 1}, {"a": 1}]), id="same-key-in-two-objects"),
    pytest.param(activate(a={"a": 1}), id="same-key-nested-in-itself"),
    # -- text Postgres cannot store --------------------------------------------------------
    pytest.param(unstorable("pause-activate", reason="a\x00b"), id="reason-with-nul"),
    pytest.param(
        unstorable("interaction-gate", "service", message_id="m\x00"), id="message-id-with-nul"
    ),
    # -- pause-logger POST: only interaction_blocked ----------------------------------------
    pytest.param(post("pause-logger", {"conversation_id": LIVE}, "service"), id="logger-no-action"),
    pytest.param(blocked(action="pause_activated"), id="logger-action-pause-activated"),
    pytest.param(blocked(action="INTERACTION_BLOCKED"), id="logger-action-upper-case"),
    # -- bodies over 64 KiB: 413 ------------------------------------------------------------
    pytest.param(too_large("pause-activate", caller="attendant"), id="activate-100kb"),
    pytest.param(too_large("pause-extend", caller="attendant"), id="extend-100kb"),
    pytest.param(too_large("pause-resume"), id="resume-100kb"),
    pytest.param(too_large("interaction-gate"), id="gate-100kb"),
    pytest.param(too_large("auto-resume"), id="sweep-100kb"),
    pytest.param(too_large("pause-logger"), id="logger-100kb"),
    pytest.param(too_large("pause-settings", "PUT", "admin"), id="settings-100kb"),
    pytest.param(
        Bad(
            "POST",
            "pause-activate",
            413,
            "body_too_large",
            raw=b'{"conversation_id": "' + EXPIRED.encode() + b'"}' + b" " * (64 * 1024),
        ),
        id="valid-json-padded-past-64kib",
    ),
    # -- query parameters --------------------------------------------------------------------
    pytest.param(query("pause-status"), id="status-without-conversation-id"),
    pytest.param(query("pause-status", conversation_id="c1"), id="status-id-not-uuid"),
    pytest.param(query("pause-status", conversation_id=""), id="status-id-empty"),
    pytest.param(query("pause-status", conversation_id=[EXPIRED, LIVE]), id="status-id-repeated"),
    pytest.param(
        query("pause-status", conversation_id=[EXPIRED, EXPIRED]), id="status-id-repeated-same"
    ),
    pytest.param(query("pause-status", conversation_id=EXPIRED, verbose="1"), id="status-unknown"),
    *[
        pytest.param(events(limit=limit), id=f"logger-limit-{limit or 'empty'}")
        for limit in ("0", "1001", "-1", "abc", "1.5", "")
    ],
    *[
        pytest.param(events(cursor=cursor), id=f"logger-cursor-{cursor}")
        for cursor in ("abc", "-1", "1e3", "9" * 19, "1 ")
    ],
    pytest.param(events(since="yesterday"), id="logger-since-word"),
    pytest.param(events(since="2026-13-01T00:00:00Z"), id="logger-since-month-13"),
    pytest.param(events(since="1700000000x"), id="logger-since-junk"),
    pytest.param(events(until="not-a-date"), id="logger-until-word"),
    pytest.param(events(action="pause"), id="logger-action-unknown"),
    pytest.param(events(action="PAUSE_ACTIVATED"), id="logger-action-upper-case-query"),
    pytest.param(events(action=["auto_resume", "force_resume"]), id="logger-action-repeated"),
    pytest.param(events(workspace_id=WORKSPACE), id="logger-unknown-parameter"),
    pytest.param(query("pause-logger", conversation_id="c1"), id="logger-id-not-uuid"),
    pytest.param(query("pause-settings"), id="settings-without-workspace-id"),
    pytest.param(query("pause-settings", workspace_id="acme"), id="settings-id-not-uuid"),
    pytest.param(
        query("pause-settings", workspace_id=WORKSPACE, team_id=TEAM), id="settings-unknown-param"
    ),
    # -- auto-resume limit 1..10000 -------------------------------------------------------
    *[
        pytest.param(sweep({"limit": limit}), id=f"sweep-limit-{limit!r}")
        for limit in (0, 10001, -1, "5", 5.5, None, True)
    ],
    # -- pause-settings PUT: exactly one of three shapes -------------------------------------
    pytest.param(
        settings({"workspace_id": WORKSPACE, "team_id": TEAM, "default_duration_minutes": 60}),
        id="settings-workspace-and-team",
    ),
    pytest.param(settings({"team_id": TEAM, "inherit": False}), id="settings-inherit-false"),
    pytest.param(settings({"team_id": TEAM, "inherit": "true"}), id="settings-inherit-string"),
    pytest.param(
        settings({"team_id": TEAM, "inherit": True, "default_duration_minutes": 60}),
        id="settings-inherit-and-duration",
    ),
    pytest.param(settings({"workspace_id": WORKSPACE}), id="settings-missing-duration"),
    pytest.param(settings({"team_id": TEAM}), id="settings-team-missing-duration"),
    pytest.param(
        settings({"workspace_id": WORKSPACE, "default_duration_minutes": 45}),
        id="settings-duration-45",
    ),
    pytest.param(
        settings({"team_id": TEAM, "default_duration_minutes": "60"}), id="settings-duration-string"
    ),
    pytest.param(
        settings({"workspace_id": WORKSPACE, "inherit": True}), id="settings-workspace-inherit"
    ),
    pytest.param(settings({"default_duration_minutes": 60}), id="settings-no-target"),
    pytest.param(settings({}), id="settings-empty-object"),
    # -- Idempotency-Key that is not a key ------------------------------------------------------
    *[
        pytest.param(
            Bad(
                "POST",
                "pause-activate",
                422,
                "invalid_idempotency_key",
                body={"conversation_id": EXPIRED},
                headers={"Idempotency-Key": key},
            ),
            id=f"idempotency-key-{name}",
        )
        for name, key in (("with-space", "click 1"), ("256-chars", "k" * 256))
    ],
]


@pytest.fixture
def scene(api: Api, db: psycopg.Connection[Any]) -> None:
    pause_live_and_expired(api, db, LIVE, demo.FIRST_CONVERSATION_ID)


def send(api: Api, bad: Bad) -> Any:
    return api.call(
        bad.method,
        bad.function,
        token=getattr(api, bad.caller),
        body=None if bad.body is _ABSENT else bad.body,
        raw=bad.raw,
        query=bad.query,
        headers=bad.headers,
    )


@pytest.mark.usefixtures("scene")
@pytest.mark.parametrize("bad", BAD_INPUT)
def test_bad_input_is_refused_in_the_error_shape_and_changes_nothing(
    api: Api, db: psycopg.Connection[Any], bad: Bad
) -> None:
    before = snapshot(db)

    answer = send(api, bad)

    assert_refused(answer, bad.status, bad.code)
    assert snapshot(db) == before


@pytest.mark.usefixtures("scene")
def test_a_field_error_says_which_field(api: Api) -> None:
    answer = api.post(
        "pause-activate",
        {"conversation_id": EXPIRED, "duration_minutes": 45, "colour": "red"},
        token=api.attendant,
    )

    error = assert_refused(answer, 422, "validation_failed")
    locations = [tuple(issue["loc"]) for issue in error["details"]]
    assert ("duration_minutes",) in locations
    assert ("colour",) in locations


@pytest.mark.usefixtures("scene")
def test_a_repeated_query_parameter_is_named(api: Api) -> None:
    answer = api.call(
        "GET", "pause-status", token=api.attendant, query={"conversation_id": [EXPIRED, LIVE]}
    )

    error = assert_refused(answer, 422, "validation_failed")
    assert error["details"][0]["loc"] == ["conversation_id"]


@pytest.mark.usefixtures("scene")
def test_a_float_duration_is_422(api: Api, db: psycopg.Connection[Any]) -> None:
    before = snapshot(db)

    activated = api.post(
        "pause-activate",
        {"conversation_id": EXPIRED, "duration_minutes": 30.0},
        token=api.attendant,
    )
    extended = api.post(
        "pause-extend", {"conversation_id": LIVE, "duration_minutes": 15.0}, token=api.attendant
    )

    assert_refused(activated, 422, "validation_failed")
    assert_refused(extended, 422, "validation_failed")
    assert snapshot(db) == before


@pytest.mark.usefixtures("scene")
@pytest.mark.parametrize(
    ("name", "moment"),
    [
        ("since", "0001-01-01T00:00:00+01:00"),
        ("until", "9999-12-31T23:59:59-01:00"),
    ],
)
def test_a_time_that_cannot_be_turned_into_utc_is_422(
    api: Api, db: psycopg.Connection[Any], name: str, moment: str
) -> None:
    before = snapshot(db)

    answer = api.get("pause-logger", token=api.attendant, **{name: moment})

    assert_refused(answer, 422, "validation_failed")
    assert snapshot(db) == before


# ---------------------------------------------------------------------------
# Wrong methods: 405 with Allow
# ---------------------------------------------------------------------------


@pytest.mark.usefixtures("scene")
@pytest.mark.parametrize(
    ("method", "function", "allowed"),
    [
        ("GET", "pause-activate", {"POST"}),
        ("PUT", "pause-extend", {"POST"}),
        ("GET", "pause-resume", {"POST"}),
        ("GET", "interaction-gate", {"POST"}),
        ("GET", "auto-resume", {"POST"}),
        ("DELETE", "pause-status", {"GET"}),
        ("POST", "pause-status", {"GET"}),
        ("PUT", "pause-logger", {"GET", "POST"}),
        ("DELETE", "pause-logger", {"GET", "POST"}),
        ("POST", "pause-settings", {"GET", "PUT"}),
        ("PATCH", "pause-settings", {"GET", "PUT"}),
        ("DELETE", "pause-settings", {"GET", "PUT"}),
    ],
)
def test_a_wrong_method_is_405_with_the_allowed_ones(
    api: Api, db: psycopg.Connection[Any], method: str, function: str, allowed: set[str]
) -> None:
    before = snapshot(db)

    answer = api.call(method, function, token=api.service, body={"conversation_id": EXPIRED})

    error = assert_refused(answer, 405, "method_not_allowed")
    assert set(answer.headers["Allow"].replace(" ", "").split(",")) == allowed | {"OPTIONS"}
    assert set(error["details"]["allowed"]) == allowed
    assert snapshot(db) == before


# ---------------------------------------------------------------------------
# The edges of the ranges are accepted (so the refusals above are about the values)
# ---------------------------------------------------------------------------


@pytest.mark.usefixtures("scene")
def test_the_longest_accepted_strings_are_written_whole(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    reason = "r" * 500
    message_id = "m" * 200

    blocked_answer = api.post(
        "pause-logger",
        {
            "conversation_id": LIVE,
            "action": "interaction_blocked",
            "message_id": message_id,
            "agent_id": "a" * 100,
            "reason": reason,
        },
        token=api.service,
    )
    resumed = api.post(
        "pause-resume", {"conversation_id": LIVE, "reason": reason}, token=api.attendant
    )

    assert (blocked_answer.status_code, resumed.status_code) == (200, 200)
    rows = log_rows(db, demo.SALES_CONVERSATION_ID)
    assert [(row["action"], row["reason"], row["message_id"]) for row in rows[1:]] == [
        ("interaction_blocked", reason, message_id),
        ("force_resume", reason, None),
    ]


@pytest.mark.usefixtures("scene")
@pytest.mark.parametrize(("limit", "count"), [("1", 1), ("1000", 2)])
def test_the_logger_limit_bounds_are_accepted(api: Api, limit: str, count: int) -> None:
    answer = api.get("pause-logger", token=api.attendant, limit=limit)

    assert answer.status_code == 200
    # the scene's two pause_activated (a listing ends no expired pause: the sweep does)
    assert len(answer.get_json()["events"]) == count


@pytest.mark.usefixtures("scene")
@pytest.mark.parametrize("limit", [1, 10000])
def test_the_auto_resume_limit_bounds_are_accepted(api: Api, limit: int) -> None:
    answer = api.post("auto-resume", {"limit": limit}, token=api.service)

    assert answer.status_code == 200
    assert answer.get_json() == {"resumed": 1, "conversation_ids": [EXPIRED], "drafts_deleted": 0}


@pytest.mark.usefixtures("scene")
def test_a_time_without_an_offset_is_read_as_utc(api: Api) -> None:
    pauses = {"action": "pause_activated"}
    first, second = api.get("pause-logger", token=api.attendant, **pauses).get_json()["events"]
    created = datetime.fromisoformat(second["created_at"])
    naive = created.replace(tzinfo=None).isoformat()
    in_berlin_summer = created.astimezone(timezone(timedelta(hours=2))).isoformat()

    by_naive = api.get("pause-logger", token=api.attendant, since=naive, **pauses).get_json()
    by_offset = api.get(
        "pause-logger", token=api.attendant, since=in_berlin_summer, **pauses
    ).get_json()

    assert first["created_at"] < second["created_at"]
    assert [event["id"] for event in by_naive["events"]] == [second["id"]]
    assert by_offset == by_naive


# ---------------------------------------------------------------------------
# Never a 500, whatever arrives
# ---------------------------------------------------------------------------

ODD_BODIES: list[bytes] = [
    b"[" * 5000 + b"]" * 5000,
    b'{"conversation_id": ' * 2000,
    b'{"conversation_id": "' + EXPIRED.encode() + b'", "duration_minutes": 1' + b"0" * 400 + b"}",
    b'{"conversation_id": "\\ud800"}',
    b'{"conversation_id": "' + EXPIRED.encode() + b'", "reason": "\\u0000"}',
    b'{"conversation_id": "'
    + EXPIRED.encode()
    + b'", "conversation_id": "'
    + LIVE.encode()
    + b'"}',
    b"\xef\xbb\xbf{}",
    b"NaN",
    b'{"limit": Infinity}',
    b" ",
]


@pytest.mark.usefixtures("scene")
@pytest.mark.parametrize(
    ("method", "function", "caller"),
    [
        ("POST", "pause-activate", "attendant"),
        ("POST", "pause-extend", "attendant"),
        ("POST", "pause-resume", "admin"),
        ("POST", "interaction-gate", "service"),
        ("POST", "auto-resume", "service"),
        ("POST", "pause-logger", "service"),
        ("PUT", "pause-settings", "admin"),
    ],
)
def test_odd_bodies_are_never_a_500(
    api: Api, db: psycopg.Connection[Any], method: str, function: str, caller: str
) -> None:
    statuses = []
    for raw in ODD_BODIES:
        answer = api.call(method, function, token=getattr(api, caller), raw=raw)
        statuses.append(answer.status_code)
        if answer.status_code != 200:
            assert "error" in answer.get_json()

    assert all(status < 500 for status in statuses), statuses


def _chunked(api: Api, body: bytes) -> TestResponse:
    """A POST whose body comes chunked: no Content-Length, as a server that decodes
    Transfer-Encoding: chunked hands it to the app."""
    client = function_app("pause-activate").test_client()
    return client.post(
        "/",
        input_stream=io.BytesIO(body),
        headers={"Authorization": f"Bearer {api.attendant}", "Content-Type": "application/json"},
        environ_overrides={"wsgi.input_terminated": True, "CONTENT_LENGTH": ""},
    )


@pytest.mark.parametrize("size", [64 * 1024 + 1, 200 * 1024, 5 * 1024 * 1024])
def test_a_chunked_body_over_64_kib_is_413_and_writes_nothing(
    api: Api, db: psycopg.Connection[Any], size: int
) -> None:
    body = json.dumps({"conversation_id": str(demo.FIRST_CONVERSATION_ID)}).encode()
    before = snapshot(db)

    answer = _chunked(api, body + b" " * (size - len(body)))

    assert_refused(answer, 413, "body_too_large")
    assert snapshot(db) == before


def test_a_chunked_body_of_exactly_64_kib_is_read_in_full(api: Api) -> None:
    body = json.dumps({"conversation_id": str(demo.FIRST_CONVERSATION_ID)}).encode()

    answer = _chunked(api, body + b" " * (64 * 1024 - len(body)))

    assert answer.status_code == 200
    assert answer.get_json()["ai_mode"] == "paused"


@pytest.mark.usefixtures("scene")
@pytest.mark.parametrize(
    "agent", ["support-bot", "Support Bot 2", "bot:v1/eu@acme", "system-bot", "my_service", "a"]
)
def test_an_agent_id_of_printable_ascii_is_written_as_given(
    api: Api, db: psycopg.Connection[Any], agent: str
) -> None:
    """The control for the impersonating ids: the refusals are about those, not about a
    name that contains a reserved word or a space inside."""
    answer = api.post(
        "interaction-gate",
        {"conversation_id": LIVE, "message_id": "m-1", "agent_id": agent},
        token=api.service,
    )

    assert answer.get_json()["allowed"] is False
    assert log_rows(db)[-1]["triggered_by"] == agent


@pytest.mark.usefixtures("scene")
def test_a_duplicate_key_is_named(api: Api) -> None:
    raw = f'{{"conversation_id": "{EXPIRED}", "duration_minutes": 15, "duration_minutes": null}}'

    answer = api.call("POST", "pause-activate", token=api.attendant, raw=raw.encode())

    error = assert_refused(answer, 400, "duplicate_key")
    assert error["details"] == {"key": "duration_minutes"}
    assert "'duration_minutes'" in error["message"]


BODY_ROUTES = [
    pytest.param(function, method, id=f"{function}-{method}")
    for function, declared in functions_by_name().items()
    for method, route in declared.routes.items()
    if route.source == "body"
]


@pytest.mark.usefixtures("scene")
@pytest.mark.parametrize(("function", "method"), BODY_ROUTES)
def test_every_function_refuses_a_key_given_twice(
    api: Api, db: psycopg.Connection[Any], function: str, method: str
) -> None:
    before = snapshot(db)

    answer = api.call(
        method, function, token=api.service, raw=b'{"limit": 1, "reason": "x", "limit": 2}'
    )

    error = assert_refused(answer, 400, "duplicate_key")
    assert error["details"] == {"key": "limit"}
    assert snapshot(db) == before


@pytest.mark.usefixtures("scene")
def test_escapes_without_a_repeated_key_are_read_as_written(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    """The other side of the duplicate check: a body with escapes takes its exact path and
    is accepted when no key repeats, whatever the escapes spell."""
    reason = 'a "quoted" \\ reason, duration_minutes: "15"'
    raw = json.dumps({"conversation_id": EXPIRED, "reason": reason, "duration_minutes": 30})

    answer = api.call("POST", "pause-activate", token=api.attendant, raw=raw.encode())

    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["duration_minutes"] == 30
    assert log_rows(db, demo.FIRST_CONVERSATION_ID)[-1]["reason"] == reason
