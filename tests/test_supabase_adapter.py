"""The Supabase adapter (functions/database/rest.py) at its HTTP boundary.

There is no PostgREST server here: these are recorded PostgREST request/answer shapes,
served by respx. What is checked is what the adapter sends (the RPC URL, `p_` arguments,
the service key headers) and how it maps each kind of answer to the functions' errors.
The lifecycle functions themselves are tested on the real Postgres elsewhere.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import httpx
import pytest
import respx

from functions.database.instance import use_database
from functions.database.rest import SupabaseDatabase
from functions.local import demo
from functions.shared import logs
from functions.shared.errors import (
    _REFUSALS,
    ApiError,
    Conflict,
    ServerMisconfigured,
    Unavailable,
    Unprocessable,
)
from tests.conftest import SetEnv
from tests.support import JWT_SECRET, Api, assert_refused

SUPABASE_URL = "https://takeover-test.supabase.co"
SERVICE_KEY = "service-role-key-of-the-test-project"
RPC = f"{SUPABASE_URL}/rest/v1/rpc"
CONVERSATION = demo.FIRST_CONVERSATION_ID

# takeover_state() as PostgREST returns a jsonb function result: the value itself.
STATE = {
    "conversation_id": str(CONVERSATION),
    "ai_mode": "paused",
    "paused_at": "2026-11-25T12:00:00.000000Z",
    "paused_until": "2026-11-25T12:15:00.000000Z",
    "paused_by": str(demo.ATTENDANT_ID),
    "duration_minutes": 15,
    "default_duration_minutes": 30,
    "event_id": 41,
}
ACTIVATE_ARGUMENTS: dict[str, object] = {
    "conversation_id": CONVERSATION,
    "caller": demo.ATTENDANT_ID,
    "triggered_by": None,
    "duration_minutes": 15,
    "use_default": False,
    "reason": "angry customer",
}


def postgrest_error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(
        status, json={"code": code, "message": message, "details": None, "hint": None}
    )


@pytest.fixture
def postgrest() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=True) as router:
        yield router


@pytest.fixture
def supabase() -> Iterator[SupabaseDatabase]:
    database = SupabaseDatabase(SUPABASE_URL, SERVICE_KEY)
    yield database
    database.close()


def sent(route: respx.Route) -> httpx.Request:
    assert route.call_count == 1
    request: httpx.Request = route.calls.last.request
    return request


# ---------------------------------------------------------------------------
# The request
# ---------------------------------------------------------------------------


def test_the_adapter_builds_its_client_without_deprecated_arguments() -> None:
    with respx.mock(assert_all_called=False) as postgrest, warnings.catch_warnings():
        sweep = postgrest.post(f"{RPC}/takeover_sweep").respond(
            200, json={"resumed": 0, "conversation_ids": []}
        )
        warnings.simplefilter("error", DeprecationWarning)
        database = SupabaseDatabase(SUPABASE_URL, SERVICE_KEY)
        try:
            database.ping()
        finally:
            database.close()
    # Building the client raised no DeprecationWarning, and the client it built works.
    assert sweep.call_count == 1


def test_a_call_is_a_post_to_the_rpc_endpoint_with_p_arguments(
    postgrest: respx.MockRouter, supabase: SupabaseDatabase
) -> None:
    route = postgrest.post(f"{RPC}/takeover_activate").respond(200, json=STATE)

    supabase.call("activate", ACTIVATE_ARGUMENTS)

    request = sent(route)
    assert request.method == "POST"
    assert str(request.url) == f"{SUPABASE_URL}/rest/v1/rpc/takeover_activate"
    assert json.loads(request.content) == {
        "p_conversation_id": str(CONVERSATION),
        "p_caller": str(demo.ATTENDANT_ID),
        "p_triggered_by": None,
        "p_duration_minutes": 15,
        "p_use_default": False,
        "p_reason": "angry customer",
    }
    assert request.headers["apikey"] == SERVICE_KEY
    assert request.headers["Authorization"] == f"Bearer {SERVICE_KEY}"
    assert request.headers["Content-Type"] == "application/json"


def test_times_are_sent_as_iso_8601(
    postgrest: respx.MockRouter, supabase: SupabaseDatabase
) -> None:
    route = postgrest.post(f"{RPC}/takeover_events").respond(
        200, json={"events": [], "next_cursor": None}
    )

    supabase.call(
        "events",
        {"caller": None, "since": datetime(2026, 11, 25, 12, 30, tzinfo=UTC), "limit": 10},
    )

    assert json.loads(sent(route).content) == {
        "p_caller": None,
        "p_since": "2026-11-25T12:30:00+00:00",
        "p_limit": 10,
    }


def timeout_sent(postgrest: respx.MockRouter) -> dict[str, float]:
    """The timeouts httpx applied to one call (it records them on the request)."""
    route = postgrest.post(f"{RPC}/takeover_sweep").respond(
        200, json={"resumed": 0, "conversation_ids": []}
    )
    database = SupabaseDatabase(SUPABASE_URL, SERVICE_KEY)
    try:
        database.ping()
    finally:
        database.close()
    timeouts: dict[str, float] = sent(route).extensions["timeout"]
    return timeouts


def test_calls_time_out_after_database_timeout_seconds(
    postgrest: respx.MockRouter, setenv: SetEnv
) -> None:
    setenv(DATABASE_TIMEOUT_SECONDS="3")

    assert timeout_sent(postgrest) == {"connect": 3, "read": 3, "write": 3, "pool": 3}


def test_a_fractional_database_timeout_is_kept(postgrest: respx.MockRouter, setenv: SetEnv) -> None:
    setenv(DATABASE_TIMEOUT_SECONDS="2.5")

    assert timeout_sent(postgrest)["read"] == 2.5


def test_ping_is_a_sweep_of_nothing(
    postgrest: respx.MockRouter, supabase: SupabaseDatabase
) -> None:
    route = postgrest.post(f"{RPC}/takeover_sweep").respond(
        200, json={"resumed": 0, "conversation_ids": []}
    )

    supabase.ping()

    assert json.loads(sent(route).content) == {"p_limit": 0}


# ---------------------------------------------------------------------------
# The answers
# ---------------------------------------------------------------------------


def test_a_state_answer_is_the_dict(
    postgrest: respx.MockRouter, supabase: SupabaseDatabase
) -> None:
    postgrest.post(f"{RPC}/takeover_activate").respond(200, json=STATE)

    assert supabase.call("activate", ACTIVATE_ARGUMENTS) == STATE


def test_a_returned_refusal_is_raised_as_its_error(
    postgrest: respx.MockRouter, supabase: SupabaseDatabase
) -> None:
    refusal = {
        "error": {
            "code": "already_paused",
            "message": "The conversation is already paused.",
            "details": {**STATE, "event_id": None},
        }
    }
    postgrest.post(f"{RPC}/takeover_activate").respond(200, json=refusal)

    with pytest.raises(Conflict) as raised:
        supabase.call("activate", ACTIVATE_ARGUMENTS)

    assert raised.value.status == 409
    assert raised.value.code == "already_paused"
    assert raised.value.details == {**STATE, "event_id": None}


@pytest.mark.parametrize("code", sorted(_REFUSALS))
def test_every_refusal_code_maps_the_same_as_on_postgres(
    postgrest: respx.MockRouter, supabase: SupabaseDatabase, code: str
) -> None:
    postgrest.post(f"{RPC}/takeover_resume").respond(
        200, json={"error": {"code": code, "message": "Refused.", "details": None}}
    )

    with pytest.raises(ApiError) as raised:
        supabase.call("resume", {"conversation_id": CONVERSATION, "caller": None})

    assert type(raised.value) is _REFUSALS[code]
    assert raised.value.code == code


def recorded(case: str, status: int, code: str, message: str) -> Any:
    """PostgREST's error answer as a test's parameter, its id the status and `case`."""
    return pytest.param(postgrest_error(status, code, message), id=f"{status}-{case}")


def naming_its_code(case: str, status: int, code: str, message: str) -> Any:
    """PostgREST's error answer, and what the cause must name: its code."""
    return pytest.param(postgrest_error(status, code, message), code, id=f"{status}-{case}")


# PostgREST's and Supabase's gateway's error answers, as recorded from a project.
INVALID_VALUE = [
    recorded("invalid-uuid", 400, "22P02", 'invalid input syntax for type uuid: "nope"'),
    recorded("check-violation", 400, "23514", 'value for domain pause_duration violates check "x"'),
]
# ... and what the cause must name: PostgREST's code, or the gateway's message.
MISCONFIGURED = [
    naming_its_code("wrong-service-key", 401, "PGRST301", "JWSError JWSInvalidSignature"),
    naming_its_code("no-key", 401, "PGRST302", "Anonymous access is disabled"),
    pytest.param(
        httpx.Response(
            401,
            json={
                "message": "Invalid API key",
                "hint": "Double check your Supabase `anon` or `service_role` API key.",
            },
        ),
        "Invalid API key",
        id="401-gateway-invalid-api-key",
    ),
    naming_its_code(
        "permission-denied", 403, "42501", "permission denied for function takeover_activate"
    ),
    naming_its_code(
        "function-not-found",
        404,
        "PGRST202",
        "Could not find the function public.takeover_activate(...) in the schema cache",
    ),
    naming_its_code("server-lacks-jwt-secret", 500, "PGRST300", "Server lacks JWT secret"),
]
OUTAGE = [
    recorded("database-down", 503, "PGRST001", "Database client error. Retrying the connection."),
    recorded("no-db", 503, "PGRST000", "Could not connect with the database."),
    pytest.param(httpx.Response(503, text="<html>upstream connect error</html>"), id="503-page"),
    pytest.param(httpx.Response(502, text="Bad Gateway"), id="502"),
    pytest.param(httpx.Response(504, text="Gateway Timeout"), id="504"),
    pytest.param(httpx.Response(520, text=""), id="520"),
    pytest.param(httpx.Response(429, json={"message": "Too many requests"}), id="429"),
    recorded("statement-timeout", 500, "57014", "canceling statement due to statement timeout"),
]

Refusal = TypeVar("Refusal", bound=ApiError)


def activate_refused(
    postgrest: respx.MockRouter, supabase: SupabaseDatabase, kind: type[Refusal], **answer: Any
) -> Refusal:
    """The error `supabase.call("activate", ...)` raises when PostgREST answers `answer`
    (respx's return_value= or side_effect=)."""
    postgrest.post(f"{RPC}/takeover_activate").mock(**answer)
    with pytest.raises(kind) as raised:
        supabase.call("activate", ACTIVATE_ARGUMENTS)
    return raised.value


@pytest.mark.parametrize("answer", INVALID_VALUE)
def test_a_value_postgres_refuses_is_422(
    postgrest: respx.MockRouter, supabase: SupabaseDatabase, answer: httpx.Response
) -> None:
    refusal = activate_refused(postgrest, supabase, Unprocessable, return_value=answer)

    assert (refusal.status, refusal.code) == (422, "invalid_value")


@pytest.mark.parametrize(("answer", "named"), MISCONFIGURED)
def test_a_misconfigured_project_is_500_server_misconfigured_with_the_cause(
    postgrest: respx.MockRouter, supabase: SupabaseDatabase, answer: httpx.Response, named: str
) -> None:
    refusal = activate_refused(postgrest, supabase, ServerMisconfigured, return_value=answer)

    assert (refusal.status, refusal.code) == (500, "server_misconfigured")
    assert named in refusal.cause
    assert f"takeover_activate with {answer.status_code}" in refusal.cause


@pytest.mark.parametrize("answer", OUTAGE)
def test_an_outage_is_503_database_unavailable(
    postgrest: respx.MockRouter, supabase: SupabaseDatabase, answer: httpx.Response
) -> None:
    refusal = activate_refused(postgrest, supabase, Unavailable, return_value=answer)

    assert (refusal.status, refusal.code) == (503, "database_unavailable")


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("connection refused"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("server disconnected without sending a response"),
    ],
    ids=["connect-error", "connect-timeout", "read-timeout", "disconnected"],
)
def test_an_unreachable_postgrest_is_unavailable(
    postgrest: respx.MockRouter, supabase: SupabaseDatabase, failure: Exception
) -> None:
    refusal = activate_refused(postgrest, supabase, Unavailable, side_effect=failure)

    assert refusal.status == 503
    assert refusal.code == "database_unavailable"


def test_a_failed_ping_is_unavailable(
    postgrest: respx.MockRouter, supabase: SupabaseDatabase
) -> None:
    postgrest.post(f"{RPC}/takeover_sweep").mock(side_effect=httpx.ConnectError("refused"))

    with pytest.raises(Unavailable):
        supabase.ping()


# ---------------------------------------------------------------------------
# A real function, end to end, on the Supabase adapter
# ---------------------------------------------------------------------------


@pytest.fixture
def api_on_supabase(supabase: SupabaseDatabase) -> Iterator[Api]:
    previous = use_database(supabase)
    yield Api(JWT_SECRET)
    use_database(previous)


def test_pause_status_answers_the_state_postgrest_returned(
    postgrest: respx.MockRouter, api_on_supabase: Api
) -> None:
    api = api_on_supabase
    status = {**STATE, "event_id": None, "blocked_drafts": []}
    route = postgrest.post(f"{RPC}/takeover_status").respond(200, json=status)

    answer = api.get("pause-status", token=api.attendant, conversation_id=CONVERSATION)

    assert answer.status_code == 200
    assert answer.get_json() == status
    assert json.loads(sent(route).content) == {
        "p_conversation_id": str(CONVERSATION),
        "p_caller": str(demo.ATTENDANT_ID),
    }


def test_pause_activate_refusal_from_postgrest_is_a_409(
    postgrest: respx.MockRouter, api_on_supabase: Api
) -> None:
    api = api_on_supabase
    route = postgrest.post(f"{RPC}/takeover_activate").respond(
        200,
        json={
            "error": {
                "code": "already_paused",
                "message": "The conversation is already paused.",
                "details": {**STATE, "event_id": None},
            }
        },
    )

    answer = api.act(
        "pause-activate", CONVERSATION, triggered_by=str(demo.ADMIN_ID), token=api.service
    )

    assert_refused(answer, 409, "already_paused")
    assert answer.get_json()["error"]["details"]["paused_by"] == str(demo.ATTENDANT_ID)
    assert (
        json.loads(sent(route).content).items()
        >= {
            "p_conversation_id": str(CONVERSATION),
            "p_caller": None,
            "p_triggered_by": str(demo.ADMIN_ID),
            "p_duration_minutes": None,
            "p_use_default": True,
            "p_reason": None,
        }.items()
    )


def test_postgrest_down_is_a_503_with_retry_after(
    postgrest: respx.MockRouter, api_on_supabase: Api
) -> None:
    api = api_on_supabase
    postgrest.post(f"{RPC}/takeover_gate").mock(side_effect=httpx.ConnectError("refused"))

    answer = api.act("interaction-gate", CONVERSATION, token=api.service)

    assert answer.status_code == 503
    assert answer.headers["Retry-After"].isdigit()
    assert answer.get_json()["error"]["code"] == "database_unavailable"


def test_the_state_answer_is_read_with_the_same_model(
    postgrest: respx.MockRouter, api_on_supabase: Api
) -> None:
    """Times PostgREST renders without microseconds still answer in the contract's form."""
    api = api_on_supabase
    postgrest.post(f"{RPC}/takeover_status").respond(
        200,
        json={
            **STATE,
            "paused_at": "2026-11-25T12:00:00+00:00",
            "paused_until": "2026-11-25T12:15:00+00:00",
            "event_id": None,
            "blocked_drafts": [],
        },
    )

    state = api.get("pause-status", token=api.service, conversation_id=CONVERSATION).get_json()

    assert state["paused_at"] == "2026-11-25T12:00:00.000000Z"
    assert state["paused_until"] == "2026-11-25T12:15:00.000000Z"
    assert UUID(state["conversation_id"]) == CONVERSATION


def test_a_wrong_service_key_answers_500_and_logs_postgrests_code_and_message(
    postgrest: respx.MockRouter, api_on_supabase: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """Not an outage: no Retry-After (agents would retry forever), and the request log line
    says what to fix."""
    api = api_on_supabase
    postgrest.post(f"{RPC}/takeover_gate").respond(
        401, json={"code": "PGRST301", "message": "JWSError JWSInvalidSignature"}
    )

    with caplog.at_level(logging.INFO, logger="takeover.request"):
        answer = api.act("interaction-gate", CONVERSATION, token=api.service)

    assert_refused(answer, 500, "server_misconfigured")
    assert "Retry-After" not in answer.headers
    assert "PGRST301" not in answer.get_data(as_text=True)  # the cause is the operator's
    lines = [logs.fields(r) for r in caplog.records if r.name == "takeover.request"]
    assert [line["error"] for line in lines] == ["server_misconfigured"]
    assert lines[0]["cause"] == (
        "PostgREST answered takeover_gate with 401 PGRST301: JWSError JWSInvalidSignature"
    )
