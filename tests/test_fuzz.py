"""Fuzzing every operation of the project's own OpenAPI document (functions/openapi.json,
as /openapi.json serves it) against the WSGI app on a real database, with schemathesis.

Valid callers (attendants in and out of the workspace, its admin, the service) and invalid
tokens; inputs that fit the schema and inputs that do not. Whatever is sent: never a 5xx,
every answer fits its documented status, content type and schema, a valid token is never
refused as one, an invalid one always is, and error answers carry the request id.

RELIABILITY_FUZZ_EXAMPLES sets the examples per operation (make test: 20; make
reliability: more). Failing cases found go to tests/test_fuzz_regressions.py.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import jwt
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from functions.local import demo
from functions.local.server import create_app
from tests.conftest import functions_on
from tests.contract import ROUTES
from tests.databases import fresh_database
from tests.support import JWT_SECRET

EXAMPLES = int(os.environ.get("RELIABILITY_FUZZ_EXAMPLES", "20"))
GENERATION = {
    "mode": "all",
    "max-examples": EXAMPLES,
    "database": "none",
    # The tests choose the token: schemathesis does not generate one.
    "with-security-parameters": False,
}
CONFIG = schemathesis.Config.from_dict({"generation": GENERATION})
# For the callers' tests: the inputs matter less than who sends them, so no coverage phase.
AUTH_CONFIG = schemathesis.Config.from_dict(
    {"generation": GENERATION, "phases": {"coverage": {"enabled": False}}}
)
AnyCase = Case[Any]
APP = create_app()
# The functions; /health (no token, no request id) is the load balancer's, tested apart.
SCHEMA = schemathesis.openapi.from_wsgi("/openapi.json", APP, config=CONFIG).exclude(path="/health")
AUTH_SCHEMA = schemathesis.openapi.from_wsgi("/openapi.json", APP, config=AUTH_CONFIG).exclude(
    path="/health"
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

# schemathesis's own strategies use `random` (it is their bug, not ours): not an error here.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
_DAY = 24 * 3600


def _token(claims: dict[str, Any], secret: str = JWT_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(
        {"iat": int(time.time()), "exp": int(time.time()) + _DAY, **claims}, secret, algorithm
    )


VALID_CALLERS = {
    "attendant": demo.attendant_token(JWT_SECRET, demo.ATTENDANT_ID),
    "admin": demo.attendant_token(JWT_SECRET, demo.ADMIN_ID),
    "outsider": demo.attendant_token(JWT_SECRET, demo.OTHER_ADMIN_ID),  # Globex only
    "stranger": demo.attendant_token(JWT_SECRET, uuid4()),  # in no workspace
    "service": demo.service_token(JWT_SECRET),
}
# Authorization header values that must be refused (None: no header at all).
INVALID_AUTHORIZATIONS: dict[str, str | None] = {
    "no header": None,
    "empty bearer": "Bearer ",
    "basic scheme": "Basic dXNlcjpwYXNz",
    "not a jwt": "Bearer not-a-jwt",
    "wrong secret": "Bearer "
    + demo.attendant_token("another-secret-that-is-long-enough-0123456789", demo.ATTENDANT_ID),
    "expired": "Bearer " + demo.attendant_token(JWT_SECRET, demo.ATTENDANT_ID, -3600),
    "anon key": "Bearer " + _token({"role": "anon", "iss": "supabase-demo"}),
    "no role": "Bearer " + _token({"sub": str(demo.ATTENDANT_ID)}),
    "wrong audience": "Bearer "
    + _token({"sub": str(demo.ATTENDANT_ID), "role": "authenticated", "aud": "other"}),
    "sub not a uuid": "Bearer "
    + _token({"sub": "admin", "role": "authenticated", "aud": "authenticated"}),
    "alg none": "Bearer " + jwt.encode({"role": "service_role"}, None, algorithm="none"),  # type: ignore[arg-type]
}
# Ids that exist, so that inputs reach past "not found" into the lifecycle.
KNOWN_IDS: dict[str, list[str]] = {
    "conversation_id": [
        str(demo.FIRST_CONVERSATION_ID),
        str(demo.SALES_CONVERSATION_ID),
        str(demo.NO_TEAM_CONVERSATION_ID),
        str(demo.OTHER_CONVERSATION_ID),
    ],
    "workspace_id": [str(demo.WORKSPACE_ID), str(demo.OTHER_WORKSPACE_ID)],
    "team_id": [str(demo.SALES_TEAM_ID), str(demo.SUPPORT_TEAM_ID)],
    "triggered_by": [str(demo.ATTENDANT_ID), str(demo.ADMIN_ID), str(demo.OTHER_ADMIN_ID)],
}


@pytest.fixture(scope="module")
def fuzz_database(server_url: str, template: str) -> Iterator[str]:
    """One database for the whole module: what one example changes, the next one meets."""
    with fresh_database(server_url, "takeover_fuzz", template) as url, functions_on(url):
        yield url


def _chooser(case: AnyCase) -> random.Random:
    """Choices that depend on the case alone, so hypothesis replays and shrinks them too
    (a `given` strategy would turn schemathesis's coverage phase off)."""
    return random.Random(repr((case.operation.label, case.body, case.query)))


def point_at_known_rows(case: AnyCase, choose: random.Random) -> None:
    """In inputs that fit the schema, most of the time put ids of rows that exist."""
    meta = case.meta
    if meta is None or meta.generation.mode is not GenerationMode.POSITIVE:
        return
    for container in (case.body, case.query):
        if not isinstance(container, dict):
            continue
        for name, known in KNOWN_IDS.items():
            if name in container and isinstance(container[name], str) and choose.random() < 0.8:
                container[name] = choose.choice(known)


def documented(case: AnyCase) -> bool:
    """Whether the document lists this method for this path. schemathesis also sends
    others (TRACE, QUERY, ...), to see them refused: the function answers its own JSON 405,
    with its Allow and a request id (test_fuzz_regressions)."""
    return case.method.lower() in SCHEMA.raw_schema["paths"][case.path]


def check_answer(case: AnyCase, response: Response, headers: dict[str, str]) -> None:
    case.validate_response(response, checks=CHECKS, headers=headers)
    if not documented(case):
        if case.method.upper() == "OPTIONS":  # a CORS preflight
            assert response.status_code == 204, f"OPTIONS: {response.status_code}"
            return
        assert response.status_code == 405, f"{case.method}: {response.status_code}"
    # Every answer names its request; an error carries the same id in its body.
    request_id = _header(response.headers, "X-Request-Id")
    assert request_id, f"no X-Request-Id: {case.method} {response.status_code} {response.text}"
    body = _json(response.text)
    if response.status_code >= 400:
        assert isinstance(body, dict), f"not a JSON error: {response.text}"
        assert body["error"].get("request_id") == request_id


def _header(headers: Any, name: str) -> Any:
    value = {key.lower(): item for key, item in headers.items()}.get(name.lower())
    if isinstance(value, list):
        return value[0] if value else None
    return value


def answered_as(case: AnyCase, caller: str) -> None:
    """The case called with a valid token of `caller`'s: answered as documented, never 401."""
    headers = {"Authorization": f"Bearer {VALID_CALLERS[caller]}"}

    response = case.call(headers=headers)

    check_answer(case, response, headers)
    assert response.status_code != 401, f"a valid {caller} token was refused: {response.text}"


@pytest.mark.parametrize("caller", ["attendant", "service"])
@SCHEMA.parametrize()
@FUZZ_SETTINGS
def test_valid_callers(case: AnyCase, caller: str, fuzz_database: str) -> None:
    point_at_known_rows(case, _chooser(case))
    answered_as(case, caller)


@AUTH_SCHEMA.parametrize()
@settings(FUZZ_SETTINGS, max_examples=max(5, EXAMPLES // 3))
def test_other_callers(case: AnyCase, fuzz_database: str) -> None:
    """The workspace's admin, an admin of another workspace, a user in none."""
    choose = _chooser(case)
    caller = choose.choice(["admin", "outsider", "stranger"])
    point_at_known_rows(case, choose)
    answered_as(case, caller)


@AUTH_SCHEMA.parametrize()
@settings(FUZZ_SETTINGS, max_examples=max(5, EXAMPLES // 3))
def test_invalid_tokens(case: AnyCase, fuzz_database: str) -> None:
    kind = _chooser(case).choice(sorted(INVALID_AUTHORIZATIONS))
    authorization = INVALID_AUTHORIZATIONS[kind]
    headers = {"Authorization": authorization} if authorization is not None else {}

    response = case.call(headers=headers)

    check_answer(case, response, headers)
    if documented(case):  # else the method is refused first
        assert response.status_code in {401, 403}, f"{kind}: {response.status_code} {response.text}"


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def test_every_operation_is_fuzzed() -> None:
    """The document lists every function of the catalogue, each method it serves."""
    operations = {
        (method.upper(), path)
        for path, methods in SCHEMA.raw_schema["paths"].items()
        if path != "/health"
        for method in methods
    }
    assert operations == {(method, f"/functions/v1/{name}") for name, method in ROUTES}
