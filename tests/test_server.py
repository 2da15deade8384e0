"""The local server (`make run`): every function at /functions/v1/<name> like
`supabase functions serve`, /health, /openapi.json, CORS, and the auto-resume it runs itself."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient

from functions.catalogue import openapi
from functions.local import demo
from functions.local.server import create_app
from functions.shared.config import LOCAL_JWT_SECRET
from functions.shared.errors import _REFUSALS, Conflict, NotFound
from tests.conftest import SetEnv, functions_on
from tests.contract import METHODS, OPENAPI, ROUTES
from tests.local_server import Server, bearer, http, started_server
from tests.support import JWT_SECRET, Api, actions, assert_refused, expire, log_rows

CONVERSATION = demo.FIRST_CONVERSATION_ID


@pytest.fixture
def client(api: Api) -> FlaskClient:
    """The local server's app, on the test's database."""
    return create_app().test_client()


# ---------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("function", "method"), ROUTES)
def test_every_route_the_catalogue_serves_is_at_functions_v1(
    client: FlaskClient, function: str, method: str
) -> None:
    answer = client.open(f"/functions/v1/{function}", method=method)

    assert answer.status_code == 401  # the function itself answered: it wants a token
    assert answer.get_json()["error"]["code"] == "missing_token"


def test_a_function_on_the_server_is_the_real_function(
    client: FlaskClient, api: Api, db: psycopg.Connection[Any]
) -> None:
    answer = client.post(
        "/functions/v1/pause-activate",
        json={"conversation_id": str(CONVERSATION), "duration_minutes": 15},
        headers=bearer(api.attendant),
    )
    status = client.get(
        "/functions/v1/pause-status",
        query_string={"conversation_id": str(CONVERSATION)},
        headers=bearer(api.attendant),
    )

    assert answer.status_code == 200
    assert answer.get_json()["ai_mode"] == "paused"
    assert status.get_json() == {**answer.get_json(), "event_id": None, "blocked_drafts": []}
    assert actions(db) == ["pause_activated"]


def test_a_method_the_function_does_not_serve_is_405(client: FlaskClient, api: Api) -> None:
    answer = client.delete("/functions/v1/pause-activate", headers=bearer(api.service))

    assert_refused(answer, 405, "method_not_allowed")
    assert "POST" in answer.headers["Allow"]


@pytest.mark.parametrize(("method", "path"), [("POST", "/health"), ("DELETE", "/openapi.json")])
def test_a_wrong_method_on_a_server_route_is_405_in_the_error_shape(
    client: FlaskClient, method: str, path: str
) -> None:
    answer = client.open(path, method=method)

    assert answer.status_code == 405
    assert answer.mimetype == "application/json"
    assert answer.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in answer.headers["Allow"]


@pytest.mark.parametrize("path", ["/functions/v1/pause-everything", "/nothing-here", "/functions"])
def test_an_unknown_path_is_404_in_the_error_shape(client: FlaskClient, path: str) -> None:
    answer = client.post(path, json={})

    assert answer.status_code == 404
    assert answer.mimetype == "application/json"
    error = answer.get_json()["error"]
    assert error["code"] == "not_found"
    assert isinstance(error["message"], str)
    assert path in error["message"]


@pytest.mark.parametrize(("function", "methods"), METHODS.items())
def test_preflight_answers_204_with_cors_headers(
    client: FlaskClient, function: str, methods: list[str]
) -> None:
    answer = client.options(
        f"/functions/v1/{function}",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": methods[0],
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )

    assert answer.status_code == 204
    assert answer.get_data() == b""
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    allowed_headers = {
        header.strip().lower()
        for header in answer.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert {"authorization", "content-type", "apikey", "x-client-info"} <= allowed_headers
    allowed_methods = {
        method.strip() for method in answer.headers["Access-Control-Allow-Methods"].split(",")
    }
    assert {*methods, "OPTIONS"} <= allowed_methods


def test_answers_carry_cors_headers_too(client: FlaskClient, api: Api) -> None:
    answer = client.get(
        "/functions/v1/pause-status",
        query_string={"conversation_id": str(CONVERSATION)},
        headers={**bearer(api.attendant), "Origin": "http://localhost:3000"},
    )

    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == "*"


# ---------------------------------------------------------------------------
# Health
# ---------------------------------------------------------------------------


def test_health_is_200_when_the_database_answers(client: FlaskClient) -> None:
    answer = client.get("/health")

    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ok"}


@pytest.fixture
def database_down(setenv: SetEnv) -> Iterator[None]:
    """A database nothing listens for, with a one-second timeout."""
    setenv(DATABASE_TIMEOUT_SECONDS="1")
    with functions_on("postgresql://postgres@127.0.0.1:1/x", min_size=0):
        yield


@pytest.mark.usefixtures("database_down")
def test_health_is_503_with_retry_after_when_the_database_is_down() -> None:
    started = time.monotonic()
    answer = create_app().test_client().get("/health")

    assert time.monotonic() - started < 5
    assert answer.status_code == 503
    assert int(answer.headers["Retry-After"]) >= 1
    assert answer.get_json()["error"]["code"] == "database_unavailable"


@pytest.mark.usefixtures("database_down")
def test_a_function_is_503_with_retry_after_when_the_database_is_down() -> None:
    answer = (
        create_app()
        .test_client()
        .post(
            "/functions/v1/interaction-gate",
            json={"conversation_id": str(CONVERSATION)},
            headers=bearer(demo.service_token(JWT_SECRET)),
        )
    )

    assert answer.status_code == 503
    assert int(answer.headers["Retry-After"]) >= 1
    assert answer.get_json()["error"]["code"] == "database_unavailable"


# ---------------------------------------------------------------------------
# The OpenAPI document and the error codes
# ---------------------------------------------------------------------------


def test_openapi_json_is_the_committed_document_and_it_is_current(
    client: FlaskClient, project_root: Path
) -> None:
    committed = (project_root / "functions" / "openapi.json").read_text()

    served = client.get("/openapi.json")

    assert served.status_code == 200
    assert served.mimetype == "application/json"
    assert served.get_data(as_text=True) == committed
    assert committed == openapi.render(), "run `make openapi` and commit functions/openapi.json"


def test_openapi_documents_every_route_the_catalogue_serves() -> None:
    documented = {
        (path.removeprefix("/functions/v1/"), method.upper())
        for path, operations in OPENAPI["paths"].items()
        if path.startswith("/functions/v1/")
        for method in operations
    }
    assert documented == set(ROUTES)
    assert set(OPENAPI["paths"]) - {f"/functions/v1/{name}" for name, _ in ROUTES} == {"/health"}


def migration_refusal_codes(project_root: Path) -> set[str]:
    text = "\n".join(
        path.read_text()
        for folder in ("migrations", "schemas")
        for path in sorted((project_root / "supabase" / folder).glob("*"))
    )
    return set(re.findall(r"(?:takeover_error|takeover_private\.error)\(\s*'([a-z_]+)'", text))


def test_every_refusal_the_migration_returns_has_an_http_status(project_root: Path) -> None:
    codes = migration_refusal_codes(project_root)

    assert {"conversation_not_found", "already_paused", "not_paused"} <= codes
    assert codes - set(_REFUSALS) == set()


def test_refusals_answer_the_status_the_contract_gives_them(project_root: Path) -> None:
    codes = migration_refusal_codes(project_root)

    assert {
        code: _REFUSALS[code] for code in codes if code.endswith("_not_found")
    } == dict.fromkeys((code for code in codes if code.endswith("_not_found")), NotFound)
    assert _REFUSALS["already_paused"] is Conflict
    assert _REFUSALS["not_paused"] is Conflict


# ---------------------------------------------------------------------------
# `python -m functions.local.server` on a real socket
# ---------------------------------------------------------------------------


@pytest.fixture
def server(db_url: str, project_root: Path, tmp_path: Path) -> Iterator[Server]:
    with started_server(db_url, project_root, tmp_path) as running:
        yield running


def test_a_deployments_own_keys_are_never_joined_by_the_public_local_secret(
    db_url: str, project_root: Path, tmp_path: Path
) -> None:
    """With only SUPABASE_SECRET_KEYS configured, make run neither accepts tokens signed
    with the Supabase CLI's well-known secret nor prints the real key."""
    key = "sb_secret_" + "k" * 32
    with started_server(
        db_url, project_root, tmp_path, SUPABASE_SECRET_KEYS=key, SUPABASE_JWT_SECRET=None
    ) as running:
        status_url = f"{running.base}/functions/v1/pause-status?conversation_id={CONVERSATION}"
        forged, _ = http("GET", status_url, demo.service_token(LOCAL_JWT_SECRET))
        genuine, _ = http("GET", status_url, key)
        printed = running.output.read_text()

    assert forged != 200
    assert genuine == 200
    assert key not in printed


def test_the_server_ends_expired_pauses_by_itself_and_stops_on_sigint(
    server: Server, db: psycopg.Connection[Any]
) -> None:
    attendant = demo.attendant_token(JWT_SECRET, demo.ATTENDANT_ID)
    status, state = http(
        "POST",
        f"{server.base}/functions/v1/pause-activate",
        attendant,
        {"conversation_id": str(CONVERSATION), "duration_minutes": 15},
    )
    assert (status, state["ai_mode"]) == (200, "paused")

    expire(db, CONVERSATION)  # nothing touches the conversation after this but the sweeper
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        resumed = [row for row in log_rows(db) if row["action"] == "auto_resume"]
        if resumed:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"no auto_resume within 15 s:\n{server.output.read_text()}")
    assert [(row["reason"], row["triggered_by"]) for row in resumed] == [
        ("timer_expired", "system")
    ]
    assert actions(db) == ["pause_activated", "auto_resume"]

    server.process.send_signal(signal.SIGINT)

    assert stopped(server) == 0, server.output.read_text()


def test_the_server_stops_cleanly_on_sigterm(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)

    assert stopped(server) == 0, server.output.read_text()


def stopped(server: Server, seconds: float = 20) -> int:
    """The server's exit status once it has stopped; a server still running after
    `seconds` fails the test with its output and the Python stacks of its threads."""
    try:
        return server.process.wait(timeout=seconds)
    except subprocess.TimeoutExpired as still_running:
        server.process.send_signal(signal.SIGQUIT)  # the server's faulthandler: its stacks
        time.sleep(1)
        server.process.kill()
        server.process.wait(timeout=10)
        output = server.output.read_text()
        raise AssertionError(f"still running after {seconds} s:\n{output}") from still_running
