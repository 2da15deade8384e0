"""Who may call: Supabase-style JWTs, verified; attendants only in their own workspaces."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from uuid import UUID, uuid4

import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import RSAAlgorithm

from functions.edge import identity
from functions.edge import jwks as identity_keys
from functions.local import demo
from functions.shared import logs
from functions.shared.config import ConfigurationError, config
from tests.conftest import SetEnv
from tests.local_http import LocalServer, Quiet
from tests.processes import free_port
from tests.support import (
    Api,
    assert_refused,
    conversation,
    error_of,
    log_rows,
    pause_live_and_expired,
    snapshot,
)

LIVE = demo.FIRST_CONVERSATION_ID  # paused for an hour in the scenes below
EXPIRED = demo.SALES_CONVERSATION_ID  # paused, its timer already run out
ACTIVE = demo.NO_TEAM_CONVERSATION_ID  # never paused


# ---------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------


def claims_for_attendant(user_id: object = demo.ATTENDANT_ID, **overrides: Any) -> dict[str, Any]:
    """A signed-in user's claims; a fresh `jti` keeps every token distinct (the edge caches
    verified tokens by their text)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "role": "authenticated",
        "aud": "authenticated",
        "iat": now,
        "exp": now + 3600,
        "jti": uuid4().hex,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def claims_for_service() -> dict[str, Any]:
    now = int(time.time())
    return {"role": "service_role", "iat": now, "exp": now + 3600, "jti": uuid4().hex}


def hs256(claims: dict[str, Any], secret: str) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def _segment(value: dict[str, Any] | bytes) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned(claims: dict[str, Any]) -> str:
    """An `alg: none` token: anyone can write one."""
    return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(claims)}."


def hmac_signed(claims: dict[str, Any], key: bytes) -> str:
    """HS256 by hand, with any bytes as the key (PyJWT refuses a PEM key as an HMAC secret)."""
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT'})}.{_segment(claims)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_segment(signature)}"


def without_request_id(answer: Any) -> dict[str, Any]:
    """The error as a client compares it: code, message, details (request ids differ)."""
    error = dict(error_of(answer))
    error.pop("request_id", None)
    return error


def status_authorized_by(api: Api, authorization: str, conversation_id: UUID) -> Any:
    """pause-status with this Authorization header as it stands, bearer scheme or not."""
    return api.call(
        "GET",
        "pause-status",
        token=None,
        query={"conversation_id": str(conversation_id)},
        headers={"Authorization": authorization},
    )


def status_of(api: Api, token: str, conversation_id: UUID = ACTIVE) -> Any:
    return api.get("pause-status", token=token, conversation_id=conversation_id)


# ---------------------------------------------------------------------------
# Every function, for the refusals that come before any work
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    function: str
    body: dict[str, Any] | None = None
    query: dict[str, str] = field(default_factory=dict)


EVERY_FUNCTION = [
    pytest.param(Call("POST", "pause-activate", {"conversation_id": str(ACTIVE)}), id="activate"),
    pytest.param(
        Call("POST", "pause-extend", {"conversation_id": str(LIVE), "duration_minutes": 15}),
        id="extend",
    ),
    pytest.param(Call("POST", "pause-resume", {"conversation_id": str(LIVE)}), id="resume"),
    pytest.param(Call("POST", "interaction-gate", {"conversation_id": str(LIVE)}), id="gate"),
    pytest.param(Call("POST", "auto-resume", {}), id="auto-resume"),
    pytest.param(
        Call("GET", "pause-logger", query={"conversation_id": str(EXPIRED)}), id="logger-get"
    ),
    pytest.param(
        Call(
            "POST",
            "pause-logger",
            {"conversation_id": str(LIVE), "action": "interaction_blocked"},
        ),
        id="logger-post",
    ),
    pytest.param(Call("GET", "pause-status", query={"conversation_id": str(EXPIRED)}), id="status"),
    pytest.param(
        Call("GET", "pause-settings", query={"workspace_id": str(demo.WORKSPACE_ID)}),
        id="settings-get",
    ),
    pytest.param(
        Call(
            "PUT",
            "pause-settings",
            {"workspace_id": str(demo.WORKSPACE_ID), "default_duration_minutes": 60},
        ),
        id="settings-put",
    ),
]


def send(api: Api, call: Call, *, token: str | None, headers: dict[str, str] | None = None) -> Any:
    return api.call(
        call.method,
        call.function,
        token=token,
        body=call.body,
        query=call.query or None,
        headers=headers,
    )


def assert_refused_unchanged(
    api: Api, db: psycopg.Connection[Any], call: Call, token: str | None, status: int, code: str
) -> None:
    """The call, with this token, is refused in the error shape and changes nothing."""
    before = snapshot(db)

    answer = send(api, call, token=token)

    assert_refused(answer, status, code)
    assert snapshot(db) == before


@pytest.fixture
def scene(api: Api, db: psycopg.Connection[Any]) -> None:
    """A live pause, an expired one (whose auto_resume any touching call would write), and an
    active conversation: a call that got past identity would change the database."""
    pause_live_and_expired(api, db, LIVE, EXPIRED)


# ---------------------------------------------------------------------------
# No token, a malformed one, a forged one
# ---------------------------------------------------------------------------


@pytest.mark.usefixtures("scene")
@pytest.mark.parametrize("call", EVERY_FUNCTION)
def test_every_function_without_a_token_is_401_missing_token_and_changes_nothing(
    api: Api, db: psycopg.Connection[Any], call: Call
) -> None:
    assert_refused_unchanged(api, db, call, None, 401, "missing_token")


@pytest.mark.usefixtures("scene")
@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        pytest.param("Bearer", "missing_token", id="scheme-only"),
        pytest.param("Bearer    ", "missing_token", id="scheme-and-spaces"),
        pytest.param("Basic dXNlcjpwYXNz", "missing_token", id="basic-auth"),
        pytest.param("Token abc.def.ghi", "missing_token", id="other-scheme"),
        pytest.param("Bearer not-a-jwt", "invalid_token", id="not-a-jwt"),
        pytest.param("Bearer a.b.c", "invalid_token", id="three-junk-segments"),
        pytest.param("Bearer eyJhbGciOiJIUzI1NiJ9", "invalid_token", id="header-only"),
    ],
)
def test_a_malformed_authorization_header_is_401(
    api: Api, db: psycopg.Connection[Any], authorization: str, code: str
) -> None:
    before = snapshot(db)

    answer = status_authorized_by(api, authorization, EXPIRED)

    assert_refused(answer, 401, code)
    assert snapshot(db) == before


def test_a_token_without_the_bearer_scheme_is_401_missing_token(api: Api) -> None:
    token = hs256(claims_for_attendant(), api.secret)

    answer = status_authorized_by(api, token, ACTIVE)

    assert_refused(answer, 401, "missing_token")


def test_the_bearer_scheme_is_case_insensitive(api: Api) -> None:
    token = hs256(claims_for_attendant(), api.secret)

    answer = status_authorized_by(api, f"bearer {token}", ACTIVE)

    assert answer.status_code == 200
    assert answer.get_json()["conversation_id"] == str(ACTIVE)


@pytest.mark.usefixtures("scene")
def test_a_token_signed_with_another_secret_is_401(api: Api, db: psycopg.Connection[Any]) -> None:
    before = snapshot(db)
    forged_attendant = hs256(claims_for_attendant(), "another-secret-that-is-also-32-bytes-long!!")
    forged_service = hs256(claims_for_service(), "another-secret-that-is-also-32-bytes-long!!")

    status = status_of(api, forged_attendant, EXPIRED)
    sweep = api.post("auto-resume", {}, token=forged_service)

    assert_refused(status, 401, "invalid_token")
    assert_refused(sweep, 401, "invalid_token")
    assert snapshot(db) == before


def test_a_token_whose_payload_was_edited_after_signing_is_401(api: Api) -> None:
    header, _, signature = hs256(claims_for_attendant(), api.secret).split(".")
    edited = f"{header}.{_segment(claims_for_service())}.{signature}"

    answer = api.post("auto-resume", {}, token=edited)

    assert_refused(answer, 401, "invalid_token")


@pytest.mark.usefixtures("scene")
def test_an_expired_token_is_401_token_expired(api: Api, db: psycopg.Connection[Any]) -> None:
    before = snapshot(db)
    an_hour_ago = int(time.time()) - 3600
    token = hs256(claims_for_attendant(iat=an_hour_ago - 60, exp=an_hour_ago), api.secret)

    answer = status_of(api, token, EXPIRED)

    assert_refused(answer, 401, "token_expired")
    assert snapshot(db) == before


def test_an_expired_service_key_is_401_token_expired(api: Api) -> None:
    claims = claims_for_service() | {"exp": int(time.time()) - 600}

    answer = api.post("auto-resume", {}, token=hs256(claims, api.secret))

    assert_refused(answer, 401, "token_expired")


def test_a_token_not_valid_yet_is_401(api: Api) -> None:
    token = hs256(claims_for_attendant(nbf=int(time.time()) + 3600), api.secret)

    answer = status_of(api, token)

    assert_refused(answer, 401, "invalid_token")


@pytest.mark.usefixtures("scene")
@pytest.mark.parametrize(
    ("claims", "call"),
    [
        pytest.param(
            claims_for_attendant,
            Call("GET", "pause-status", query={"conversation_id": str(EXPIRED)}),
            id="attendant",
        ),
        pytest.param(claims_for_service, Call("POST", "auto-resume", {}), id="service"),
    ],
)
def test_an_alg_none_token_is_401(
    api: Api, db: psycopg.Connection[Any], claims: Any, call: Call
) -> None:
    assert_refused_unchanged(api, db, call, unsigned(claims()), 401, "invalid_token")


def test_an_rs256_token_without_a_jwks_configured_is_500_server_misconfigured(api: Api) -> None:
    """Supabase's asymmetric signing keys with no SUPABASE_JWKS_URL: the deployment cannot
    verify what its users are sent, which no retry and no new sign-in can mend."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims_for_attendant(), key, algorithm="RS256", headers={"kid": "k1"})

    answer = status_of(api, token)

    assert_refused(answer, 500, "server_misconfigured")
    assert "Retry-After" not in answer.headers


# ---------------------------------------------------------------------------
# Roles and claims
# ---------------------------------------------------------------------------


@pytest.mark.usefixtures("scene")
@pytest.mark.parametrize("call", EVERY_FUNCTION)
def test_the_anon_key_is_403_everywhere(api: Api, db: psycopg.Connection[Any], call: Call) -> None:
    before = snapshot(db)
    now = int(time.time())
    anon = hs256(
        {"role": "anon", "iss": "supabase", "iat": now, "exp": now + 3600, "jti": uuid4().hex},
        api.secret,
    )

    answer = send(api, call, token=anon)

    assert_refused(answer, 403, "role_not_allowed")
    assert snapshot(db) == before


def test_a_token_without_a_role_is_403(api: Api) -> None:
    token = hs256(claims_for_attendant(role=None), api.secret)

    answer = status_of(api, token)

    assert_refused(answer, 403, "role_not_allowed")


_MISSING = object()  # the claim left out of the token


@pytest.mark.usefixtures("scene")
@pytest.mark.parametrize(
    ("claim", "value"),
    [
        pytest.param("aud", _MISSING, id="aud-missing"),
        pytest.param("aud", "anon", id="aud-anon"),
        pytest.param("aud", "service_role", id="aud-service_role"),
        pytest.param("aud", ["anon", "other"], id="aud-list-without-authenticated"),
        pytest.param("sub", "not-a-uuid", id="sub-word"),
        pytest.param("sub", "", id="sub-empty"),
        pytest.param("sub", "12345", id="sub-number-text"),
        pytest.param("sub", 12345, id="sub-number"),
        pytest.param("sub", _MISSING, id="sub-missing"),
    ],
)
def test_an_attendant_token_without_aud_authenticated_or_a_user_id_is_401(
    api: Api, db: psycopg.Connection[Any], claim: str, value: Any
) -> None:
    before = snapshot(db)
    claims = claims_for_attendant()
    if value is _MISSING:
        del claims[claim]
    else:
        claims[claim] = value

    answer = status_of(api, hs256(claims, api.secret), EXPIRED)

    assert_refused(answer, 401, "invalid_token")
    assert snapshot(db) == before


def test_an_attendant_token_whose_aud_list_holds_authenticated_is_accepted(api: Api) -> None:
    token = hs256(claims_for_attendant(aud=["authenticated", "inbox"]), api.secret)

    answer = status_of(api, token)

    assert answer.status_code == 200
    assert answer.get_json()["ai_mode"] == "active"


SERVICE_ONLY_CALLS = [
    pytest.param(
        Call("POST", "interaction-gate", {"conversation_id": str(EXPIRED), "message_id": "m-1"}),
        id="gate",
    ),
    pytest.param(Call("POST", "auto-resume", {}), id="auto-resume"),
    pytest.param(
        Call(
            "POST",
            "pause-logger",
            {"conversation_id": str(LIVE), "action": "interaction_blocked", "message_id": "m-1"},
        ),
        id="logger-post",
    ),
]


@pytest.mark.usefixtures("scene")
@pytest.mark.parametrize("who", ["attendant", "admin"])
@pytest.mark.parametrize("call", SERVICE_ONLY_CALLS)
def test_an_attendant_calling_a_service_only_function_is_403_and_changes_nothing(
    api: Api, db: psycopg.Connection[Any], call: Call, who: str
) -> None:
    assert_refused_unchanged(api, db, call, getattr(api, who), 403, "service_only")
    assert conversation(db, EXPIRED)["ai_mode"] == "paused"  # its auto_resume is not written


@pytest.mark.usefixtures("scene")
@pytest.mark.parametrize("call", SERVICE_ONLY_CALLS)
def test_the_service_may_call_the_service_only_functions(
    api: Api, db: psycopg.Connection[Any], call: Call
) -> None:
    """The control for the test above: the same calls, by the service, do their work."""
    before = snapshot(db)

    answer = send(api, call, token=api.service)

    assert answer.status_code == 200
    assert snapshot(db) != before


# ---------------------------------------------------------------------------
# An attendant of another workspace: the conversation does not exist for them
# ---------------------------------------------------------------------------


def hidden(call: Call, name: str, code: str = "conversation_not_found") -> Any:
    """An outsider's call, its test id, and the 404 code that hides what they may not see."""
    return pytest.param(call, code, id=name)


OUTSIDER_CALLS = [
    hidden(Call("POST", "pause-activate", {"conversation_id": str(ACTIVE)}), "activate-active"),
    hidden(
        Call("POST", "pause-activate", {"conversation_id": str(EXPIRED), "duration_minutes": 60}),
        "activate-expired",
    ),
    hidden(
        Call("POST", "pause-extend", {"conversation_id": str(LIVE), "duration_minutes": 15}),
        "extend-live",
    ),
    hidden(
        Call("POST", "pause-extend", {"conversation_id": str(EXPIRED), "duration_minutes": None}),
        "extend-expired",
    ),
    hidden(Call("POST", "pause-resume", {"conversation_id": str(LIVE)}), "resume-live"),
    hidden(Call("POST", "pause-resume", {"conversation_id": str(EXPIRED)}), "resume-expired"),
    hidden(Call("GET", "pause-status", query={"conversation_id": str(LIVE)}), "status-live"),
    hidden(Call("GET", "pause-status", query={"conversation_id": str(EXPIRED)}), "status-expired"),
    hidden(Call("GET", "pause-logger", query={"conversation_id": str(LIVE)}), "logger-live"),
    hidden(Call("GET", "pause-logger", query={"conversation_id": str(EXPIRED)}), "logger-expired"),
    hidden(
        Call("GET", "pause-settings", query={"workspace_id": str(demo.WORKSPACE_ID)}),
        "settings-get",
        "workspace_not_found",
    ),
    hidden(
        Call(
            "PUT",
            "pause-settings",
            {"workspace_id": str(demo.WORKSPACE_ID), "default_duration_minutes": 120},
        ),
        "settings-put-workspace",
        "workspace_not_found",
    ),
    hidden(
        Call(
            "PUT",
            "pause-settings",
            {"workspace_id": str(demo.WORKSPACE_ID), "default_duration_minutes": None},
        ),
        "settings-put-workspace-indefinite",
        "workspace_not_found",
    ),
    hidden(
        Call(
            "PUT",
            "pause-settings",
            {"team_id": str(demo.SUPPORT_TEAM_ID), "default_duration_minutes": 15},
        ),
        "settings-put-team-override",
        "team_not_found",
    ),
    hidden(
        Call("PUT", "pause-settings", {"team_id": str(demo.SALES_TEAM_ID), "inherit": True}),
        "settings-put-team-inherit",
        "team_not_found",
    ),
]


@pytest.mark.usefixtures("scene")
@pytest.mark.parametrize(("call", "code"), OUTSIDER_CALLS)
def test_an_attendant_of_another_workspace_gets_404_and_changes_nothing(
    api: Api, db: psycopg.Connection[Any], call: Call, code: str
) -> None:
    assert_refused_unchanged(api, db, call, api.outsider, 404, code)


@pytest.mark.usefixtures("scene")
@pytest.mark.parametrize(("call", "code"), OUTSIDER_CALLS)
def test_a_member_making_the_same_call_gets_past_the_404(
    api: Api, db: psycopg.Connection[Any], call: Call, code: str
) -> None:
    """The control for the test above: the 404 is about membership, not the call."""
    answer = send(api, call, token=api.admin)

    assert answer.status_code in (200, 409)
    assert answer.status_code != 404


@pytest.mark.usefixtures("scene")
def test_the_outsiders_404_reads_exactly_like_an_unknown_conversation(api: Api) -> None:
    unknown = uuid4()

    for function in ("pause-activate", "pause-resume"):
        hidden = api.post(function, {"conversation_id": str(LIVE)}, token=api.outsider)
        missing = api.post(function, {"conversation_id": str(unknown)}, token=api.attendant)
        assert hidden.status_code == missing.status_code == 404
        assert without_request_id(hidden) == without_request_id(missing)

    hidden = api.get("pause-status", token=api.outsider, conversation_id=EXPIRED)
    missing = api.get("pause-status", token=api.attendant, conversation_id=unknown)
    assert hidden.status_code == missing.status_code == 404
    assert without_request_id(hidden) == without_request_id(missing)


@pytest.mark.usefixtures("scene")
def test_the_outsider_still_acts_in_its_own_workspace(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    answer = api.act("pause-activate", demo.OTHER_CONVERSATION_ID, token=api.outsider)

    assert answer.status_code == 200
    assert answer.get_json()["duration_minutes"] == 60  # Globex's default
    assert log_rows(db, demo.OTHER_CONVERSATION_ID)[0]["triggered_by"] == str(demo.OTHER_ADMIN_ID)


def test_an_acme_attendant_gets_404_on_the_globex_conversation(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    before = snapshot(db)

    answer = api.act("pause-activate", demo.OTHER_CONVERSATION_ID, token=api.admin)

    assert_refused(answer, 404, "conversation_not_found")
    assert snapshot(db) == before


def test_a_valid_token_for_a_user_in_no_workspace_sees_nothing(
    api: Api, db: psycopg.Connection[Any]
) -> None:
    stranger = hs256(claims_for_attendant(uuid4()), api.secret)

    status = status_of(api, stranger, ACTIVE)
    events = api.get("pause-logger", token=stranger)

    assert status.status_code == 404
    assert events.status_code == 200
    assert events.get_json() == {"events": [], "next_cursor": None}


# ---------------------------------------------------------------------------
# Asymmetric keys from a JWKS URL
# ---------------------------------------------------------------------------


class Jwks:
    """A JWKS endpoint on 127.0.0.1 that answers as the test says: its keys, a failure
    (`failing`), or nothing until `answer` is set (a hanging endpoint)."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = f"test-{uuid4().hex[:8]}"
        self.keys = [_public_jwk(self.key, self.kid)]
        self.fetches: list[str] = []
        self.failing = False
        self.answer = threading.Event()
        self.answer.set()
        jwks = self

        class Handler(Quiet, BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                jwks.fetches.append(self.path)
                jwks.answer.wait(60)
                if jwks.failing:
                    self.send_error(500)
                    return
                document = json.dumps({"keys": jwks.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(document)))
                self.end_headers()
                self.wfile.write(document)

        self._server = LocalServer(Handler)
        self.url = f"{self._server.url}/auth/v1/.well-known/jwks.json"

    def add_key(self) -> tuple[rsa.RSAPrivateKey, str]:
        """A new signing key published beside the others (a rotation's standby key)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = f"test-{uuid4().hex[:8]}"
        self.keys.append(_public_jwk(key, kid))
        return key, kid

    def close(self) -> None:
        self.answer.set()
        self._server.close()


def _public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return jwk | {"kid": kid, "alg": "RS256", "use": "sig"}


@pytest.fixture
def jwks(setenv: SetEnv) -> Iterator[Jwks]:
    """A JWKS endpoint on 127.0.0.1, configured as SUPABASE_JWKS_URL for this test only."""
    server = Jwks()
    try:
        setenv(SUPABASE_JWKS_URL=server.url)
        yield server
    finally:
        server.close()


def rs256(claims: dict[str, Any], key: rsa.RSAPrivateKey, kid: str) -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def test_an_rs256_attendant_token_from_the_jwks_is_accepted(api: Api, jwks: Jwks) -> None:
    token = rs256(claims_for_attendant(), jwks.key, jwks.kid)

    answer = status_of(api, token, ACTIVE)

    assert answer.status_code == 200
    assert answer.get_json()["conversation_id"] == str(ACTIVE)
    assert jwks.fetches == ["/auth/v1/.well-known/jwks.json"]


def test_an_rs256_attendant_acts_as_its_sub(
    api: Api, db: psycopg.Connection[Any], jwks: Jwks
) -> None:
    token = rs256(claims_for_attendant(demo.ADMIN_ID), jwks.key, jwks.kid)

    answer = api.act("pause-activate", ACTIVE, token=token)

    assert answer.status_code == 200
    assert answer.get_json()["paused_by"] == str(demo.ADMIN_ID)
    assert log_rows(db)[0]["triggered_by"] == str(demo.ADMIN_ID)


def test_an_rs256_service_key_from_the_jwks_is_the_service(
    api: Api, db: psycopg.Connection[Any], jwks: Jwks
) -> None:
    token = rs256(claims_for_service(), jwks.key, jwks.kid)

    answer = api.post("auto-resume", {}, token=token)

    assert answer.status_code == 200
    assert answer.get_json() == {"resumed": 0, "conversation_ids": [], "drafts_deleted": 0}


def test_an_rs256_token_signed_by_another_key_with_the_same_kid_is_401(
    api: Api, db: psycopg.Connection[Any], jwks: Jwks
) -> None:
    before = snapshot(db)
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = rs256(claims_for_attendant(), impostor, jwks.kid)

    answer = api.act("pause-activate", ACTIVE, token=token)

    assert_refused(answer, 401, "invalid_token")
    assert snapshot(db) == before


def test_an_rs256_token_with_an_unknown_kid_is_401(api: Api, jwks: Jwks) -> None:
    token = rs256(claims_for_attendant(), jwks.key, "no-such-key")

    answer = status_of(api, token)

    assert_refused(answer, 401, "invalid_token")


def test_an_expired_rs256_token_is_401_token_expired(api: Api, jwks: Jwks) -> None:
    past = int(time.time()) - 3600
    token = rs256(claims_for_attendant(iat=past - 60, exp=past), jwks.key, jwks.kid)

    answer = status_of(api, token)

    assert_refused(answer, 401, "token_expired")


def test_the_hs256_secret_still_works_beside_the_jwks(api: Api, jwks: Jwks) -> None:
    token = hs256(claims_for_attendant(), api.secret)

    answer = status_of(api, token)

    assert answer.status_code == 200


def test_an_hs256_token_keyed_with_the_jwks_public_key_is_401(
    api: Api, db: psycopg.Connection[Any], jwks: Jwks
) -> None:
    """Algorithm confusion: the public key is public, so it must never be an HMAC secret."""
    before = snapshot(db)
    public_pem = jwks.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = hmac_signed(claims_for_service(), public_pem)

    answer = api.post("auto-resume", {}, token=token)

    assert_refused(answer, 401, "invalid_token")
    assert snapshot(db) == before


def test_an_rs256_token_with_role_anon_is_403(api: Api, jwks: Jwks) -> None:
    now = int(time.time())
    token = rs256(
        {"role": "anon", "iat": now, "exp": now + 600, "jti": uuid4().hex}, jwks.key, jwks.kid
    )

    answer = status_of(api, token)

    assert_refused(answer, 403, "role_not_allowed")


def test_a_token_whose_alg_does_not_fit_the_jwks_key_is_401(
    api: Api, db: psycopg.Connection[Any], jwks: Jwks
) -> None:
    before = snapshot(db)
    elliptic = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(claims_for_service(), elliptic, algorithm="ES256", headers={"kid": jwks.kid})

    answer = api.post("auto-resume", {}, token=token)

    assert_refused(answer, 401, "invalid_token")
    assert snapshot(db) == before


def test_an_unreachable_jwks_is_503_not_a_bad_token(api: Api, setenv: SetEnv) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = rs256(claims_for_attendant(), key, "k1")

    nothing_listens = f"http://127.0.0.1:{free_port()}/jwks.json"
    setenv(SUPABASE_JWKS_URL=nothing_listens)
    answer = status_of(api, token)

    assert answer.status_code == 503
    assert "Retry-After" in answer.headers


def at_once(api: Api, tokens: list[str]) -> list[Any]:
    """pause-status with each token, all in flight together."""
    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        return list(pool.map(lambda token: status_of(api, token), tokens))


def test_requests_on_a_cold_cache_share_one_fetch(
    api: Api, jwks: Jwks, monkeypatch: pytest.MonkeyPatch
) -> None:
    # However long this machine takes to run the fetch, the others wait for it.
    monkeypatch.setattr(identity_keys, "WAIT", 60.0)
    jwks.answer.clear()
    tokens = [rs256(claims_for_attendant(), jwks.key, jwks.kid) for _ in range(8)]

    def answer_once_all_wait() -> None:
        deadline = time.monotonic() + 30
        while not jwks.fetches and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)  # the other requests are waiting for that fetch by now
        jwks.answer.set()

    releaser = threading.Thread(target=answer_once_all_wait)
    releaser.start()
    answers = at_once(api, tokens)
    releaser.join()

    assert [answer.status_code for answer in answers] == [200] * 8
    assert len(jwks.fetches) == 1


def test_a_hanging_jwks_is_fetched_once_and_the_others_answer_503(api: Api, jwks: Jwks) -> None:
    """PyJWT's client fetched again for every request queued behind its lock, 5 s each."""
    jwks.answer.clear()  # the endpoint accepts, and never answers
    tokens = [rs256(claims_for_attendant(), jwks.key, jwks.kid) for _ in range(5)]

    answers = at_once(api, tokens)

    assert [answer.status_code for answer in answers] == [503] * 5
    assert {error_of(answer)["code"] for answer in answers} == {"jwks_unavailable"}
    assert all(answer.headers["Retry-After"] == "2" for answer in answers)
    assert len(jwks.fetches) == 1


def test_after_a_failed_fetch_an_unknown_kid_fetches_nothing_within_the_cooldown(
    api: Api, jwks: Jwks
) -> None:
    jwks.failing = True
    first = status_of(api, rs256(claims_for_attendant(), jwks.key, "kid-one"))
    second = status_of(api, rs256(claims_for_attendant(), jwks.key, "kid-two"))

    assert (first.status_code, second.status_code) == (503, 503)
    assert error_of(second)["code"] == "jwks_unavailable"
    assert len(jwks.fetches) == 1


def test_unknown_kids_fetch_at_most_once_per_cooldown(api: Api, jwks: Jwks) -> None:
    known = status_of(api, rs256(claims_for_attendant(), jwks.key, jwks.kid))
    unknown = [
        status_of(api, rs256(claims_for_attendant(), jwks.key, f"junk-{n}")) for n in range(5)
    ]

    assert known.status_code == 200
    assert {answer.status_code for answer in unknown} == {401}
    assert {error_of(answer)["code"] for answer in unknown} == {"invalid_token"}
    assert len(jwks.fetches) == 1


def test_a_key_added_to_the_jwks_is_fetched_once_a_token_names_it(
    api: Api, jwks: Jwks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(identity_keys, "COOLDOWN", 0.0)  # the cooldown has passed
    assert status_of(api, rs256(claims_for_attendant(), jwks.key, jwks.kid)).status_code == 200
    new_key, new_kid = jwks.add_key()

    answer = status_of(api, rs256(claims_for_attendant(), new_key, new_kid))

    assert answer.status_code == 200
    assert len(jwks.fetches) == 2


def test_keys_past_their_lifespan_still_verify_while_the_jwks_fails(
    api: Api, jwks: Jwks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(identity_keys, "LIFESPAN", 0.0)  # every request finds the keys due
    monkeypatch.setattr(identity_keys, "COOLDOWN", 0.0)
    assert status_of(api, rs256(claims_for_attendant(), jwks.key, jwks.kid)).status_code == 200
    jwks.failing = True

    answer = status_of(api, rs256(claims_for_attendant(), jwks.key, jwks.kid))

    assert answer.status_code == 200
    assert len(jwks.fetches) == 2  # the refresh was tried, and failed
    monkeypatch.setattr(identity_keys, "KEPT", 0.0)  # an hour later, still failing
    assert status_of(api, rs256(claims_for_attendant(), jwks.key, jwks.kid)).status_code == 503


# ---------------------------------------------------------------------------
# The issuer of attendants' tokens
# ---------------------------------------------------------------------------

ISSUER = "https://takeovertest.supabase.co/auth/v1"


@pytest.mark.parametrize(
    "iss",
    ["https://elsewhere.supabase.co/auth/v1", f"{ISSUER}/", None],
    ids=["another-project", "trailing-slash", "missing"],
)
def test_an_attendant_token_not_from_the_projects_auth_is_401_and_changes_nothing(
    api: Api, db: psycopg.Connection[Any], setenv: SetEnv, iss: str | None
) -> None:
    before = snapshot(db)
    claims = claims_for_attendant(iss=iss) if iss else claims_for_attendant()
    setenv(SUPABASE_JWT_ISSUER=ISSUER)
    answer = api.act("pause-activate", ACTIVE, token=hs256(claims, api.secret))

    error = assert_refused(answer, 401, "invalid_token")
    assert error["message"] == "The token was not issued by this project's Auth."
    assert snapshot(db) == before


def test_an_attendant_token_from_the_projects_auth_is_accepted(api: Api, setenv: SetEnv) -> None:
    setenv(SUPABASE_JWT_ISSUER=ISSUER)
    answer = status_of(api, hs256(claims_for_attendant(iss=ISSUER), api.secret))

    assert answer.status_code == 200


def test_the_legacy_service_key_is_not_held_to_the_auths_issuer(api: Api, setenv: SetEnv) -> None:
    """Supabase's legacy service_role key says iss "supabase": Auth never issued it."""
    setenv(SUPABASE_JWT_ISSUER=ISSUER)
    answer = api.post("auto-resume", {}, token=hs256(claims_for_service(), api.secret))

    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("variables", "issuer"),
    [
        ({"SUPABASE_JWKS_URL": f"{ISSUER}/.well-known/jwks.json"}, ISSUER),
        ({"SUPABASE_JWKS_URL": "https://auth.example.com/auth/v1/.well-known/jwks.json"}, None),
        (
            {
                "SUPABASE_JWKS_URL": "https://auth.example.com/auth/v1/.well-known/jwks.json",
                "SUPABASE_JWT_ISSUER": ISSUER,
            },
            ISSUER,
        ),
        ({}, None),
    ],
    ids=["supabase-jwks", "custom-domain", "explicit", "nothing"],
)
def test_the_issuer_is_known_from_a_supabase_jwks_url_or_named(
    setenv: SetEnv, variables: dict[str, str], issuer: str | None
) -> None:
    unset: dict[str, str | None] = {"SUPABASE_JWKS_URL": None, "SUPABASE_JWT_ISSUER": None}
    setenv(**(unset | variables))
    assert config().auth_issuer == issuer


# ---------------------------------------------------------------------------
# Expiry, secret API keys, and a deployment that cannot verify what it is sent
# ---------------------------------------------------------------------------

SECRET_KEY = "sb_secret_" + "k" * 32
NEXT_SECRET_KEY = "sb_secret_" + "n" * 32


@pytest.mark.parametrize("claims", [claims_for_attendant, claims_for_service])
def test_a_token_without_exp_is_401_invalid_token(
    api: Api, db: psycopg.Connection[Any], claims: Any
) -> None:
    before = snapshot(db)
    token = hs256({name: value for name, value in claims().items() if name != "exp"}, api.secret)

    answer = api.act("pause-activate", ACTIVE, token=token)

    error = assert_refused(answer, 401, "invalid_token")
    assert "exp" in error["message"]
    assert snapshot(db) == before


TEN_YEARS = int(3652.5 * 24 * 3600)  # how long Supabase's legacy service_role key lives


@pytest.mark.parametrize("claims", [claims_for_attendant, claims_for_service])
@pytest.mark.parametrize(
    "exp",
    [
        pytest.param(lambda now: 2**63, id="2^63"),
        pytest.param(lambda now: 10**400, id="10^400"),
        pytest.param(lambda now: now + TEN_YEARS + 2 * 24 * 3600, id="ten-years-and-two-days"),
    ],
)
def test_a_token_that_expires_more_than_ten_years_from_now_is_401(
    api: Api, db: psycopg.Connection[Any], claims: Any, exp: Any
) -> None:
    before = snapshot(db)
    token = hs256(claims() | {"exp": exp(int(time.time()))}, api.secret)

    answer = api.act("pause-activate", ACTIVE, token=token)

    error = assert_refused(answer, 401, "invalid_token")
    assert "10 years" in error["message"]
    assert snapshot(db) == before


def test_a_service_key_issued_for_ten_years_as_supabase_does_is_the_service(api: Api) -> None:
    """The legacy service_role key of a project created today: iat now, exp 10 years on.
    The Supabase CLI's demo key has no iat at all."""
    now = int(time.time())
    issued_today = {"iss": "supabase", "role": "service_role", "iat": now, "exp": now + TEN_YEARS}
    without_iat = {"iss": "supabase-demo", "role": "service_role", "exp": now + TEN_YEARS}

    for claims in (issued_today, without_iat):
        answer = api.post("auto-resume", {}, token=hs256(claims, api.secret))
        assert answer.status_code == 200
        assert answer.get_json() == {"resumed": 0, "conversation_ids": [], "drafts_deleted": 0}


@pytest.mark.parametrize("how", ["apikey", "bearer"])
@pytest.mark.parametrize("key", [SECRET_KEY, NEXT_SECRET_KEY], ids=["current", "next"])
def test_a_secret_api_key_is_the_service(
    api: Api, db: psycopg.Connection[Any], setenv: SetEnv, how: str, key: str
) -> None:
    headers = {"apikey": key} if how == "apikey" else {"Authorization": f"Bearer {key}"}
    setenv(SUPABASE_SECRET_KEYS=f"{SECRET_KEY}, {NEXT_SECRET_KEY}")
    resumed = api.call("POST", "auto-resume", token=None, body={}, headers=headers)
    paused = api.call(
        "POST",
        "pause-activate",
        token=None,
        body={"conversation_id": str(ACTIVE)},
        headers=headers,
    )

    assert resumed.status_code == 200
    assert resumed.get_json() == {"resumed": 0, "conversation_ids": [], "drafts_deleted": 0}
    assert paused.status_code == 200
    assert paused.get_json()["paused_by"] is None


@pytest.mark.parametrize(
    "key", [SECRET_KEY[:-1] + "x", SECRET_KEY + "k", "sb_secret_", "sb_secret_k"]
)
def test_a_secret_key_not_configured_is_401(
    api: Api, db: psycopg.Connection[Any], setenv: SetEnv, key: str
) -> None:
    before = snapshot(db)
    setenv(SUPABASE_SECRET_KEYS=SECRET_KEY)
    answer = api.call("POST", "auto-resume", token=None, body={}, headers={"apikey": key})

    assert_refused(answer, 401, "invalid_token")
    assert snapshot(db) == before


def test_the_authorization_header_wins_over_an_apikey(api: Api, setenv: SetEnv) -> None:
    """Supabase's clients send the project's key as apikey and the user's JWT as
    Authorization: the caller is the user."""
    setenv(SUPABASE_SECRET_KEYS=SECRET_KEY)
    answer = api.call(
        "POST", "auto-resume", token=api.attendant, body={}, headers={"apikey": SECRET_KEY}
    )

    assert_refused(answer, 403, "service_only")


def test_a_secret_key_without_secret_keys_configured_is_500(
    api: Api, db: psycopg.Connection[Any], caplog: pytest.LogCaptureFixture
) -> None:
    before = snapshot(db)
    answer = api.call("POST", "auto-resume", token=None, body={}, headers={"apikey": SECRET_KEY})

    assert_refused(answer, 500, "server_misconfigured")
    assert "Retry-After" not in answer.headers
    assert "SUPABASE_SECRET_KEYS" in caplog.text
    assert SECRET_KEY not in caplog.text
    assert snapshot(db) == before


def test_a_flood_of_unverifiable_credentials_says_server_misconfigured_once_a_minute(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Anyone can send a key the deployment cannot verify: every answer is still 500 and
    every request's own log line names the cause, but the ERROR line for the operator is
    written once a minute, not once per request."""
    monkeypatch.setattr(identity, "_misconfiguration_said", identity._OncePerInterval(60))
    caplog.set_level(logging.INFO)
    answers = [
        api.call("POST", "auto-resume", token=None, body={}, headers={"apikey": SECRET_KEY})
        for _ in range(5)
    ]

    assert {answer.status_code for answer in answers} == {500}
    said = [r for r in caplog.records if r.name == "takeover.identity"]
    assert len(said) == 1
    assert "SUPABASE_SECRET_KEYS" in said[0].getMessage()
    request_lines = [r for r in caplog.records if r.name == "takeover.request"]
    assert len(request_lines) == 5
    assert all("SUPABASE_SECRET_KEYS" in logs.fields(r)["cause"] for r in request_lines)


def test_the_service_key_on_a_jwks_only_deployment_is_500_not_503(
    api: Api, setenv: SetEnv, caplog: pytest.LogCaptureFixture
) -> None:
    """The README's old deploy set only SUPABASE_JWKS_URL: the HS256 service key answered
    503 and agents retried forever. It is the operator's to fix: 500, said in the log."""
    setenv(SUPABASE_JWT_SECRET=None, SUPABASE_JWKS_URL="https://example.invalid/jwks")
    answer = api.post("auto-resume", {}, token=api.service)

    assert_refused(answer, 500, "server_misconfigured")
    assert "SUPABASE_JWT_SECRET" in caplog.text


@pytest.mark.parametrize("call", EVERY_FUNCTION)
def test_nothing_to_verify_with_is_500_server_misconfigured_everywhere(
    api: Api, db: psycopg.Connection[Any], setenv: SetEnv, call: Call
) -> None:
    before = snapshot(db)
    setenv(SUPABASE_JWT_SECRET=None, SUPABASE_JWKS_URL=None)
    answer = send(api, call, token=api.service)

    assert_refused(answer, 500, "server_misconfigured")
    assert snapshot(db) == before


def test_a_deployment_with_nothing_to_verify_with_says_so_at_start(
    setenv: SetEnv, caplog: pytest.LogCaptureFixture
) -> None:
    setenv(SUPABASE_JWT_SECRET=None, SUPABASE_JWKS_URL=None)
    assert identity.check_configuration() is False
    assert "server_misconfigured" in caplog.text
    assert "SUPABASE_SECRET_KEYS" in caplog.text
    caplog.clear()
    setenv(SUPABASE_JWT_SECRET=None, SUPABASE_SECRET_KEYS=SECRET_KEY)
    assert identity.check_configuration() is True
    assert caplog.text == ""


@pytest.mark.parametrize(
    ("variable", "value", "shown"),
    [
        ("PORT", "abc", True),
        ("PORT", "70000", True),
        ("DATABASE_TIMEOUT_SECONDS", "0", True),
        ("DATABASE_POOL_SIZE", "many", True),
        ("TAKEOVER_SEED_DEMO", "perhaps", True),
        ("SUPABASE_JWKS_URL", "jwks.json", True),
        ("DATABASE_URL", "mysql://user:password@host/db", False),
        ("SUPABASE_SECRET_KEYS", "sb_publishable_abc", False),
    ],
)
def test_a_bad_variable_is_refused_by_name(
    setenv: SetEnv, variable: str, value: str, shown: bool
) -> None:
    setenv(**{variable: value})
    with pytest.raises(ConfigurationError) as raised:
        config()
    message = str(raised.value)
    assert message.startswith(f"Bad configuration: {variable}")
    # A value that may hold a secret (a password in a URL, a key) stays out of the log.
    assert (value in message) is shown


def test_a_bad_variable_stops_the_server_at_start(project_root: Any) -> None:
    environment_ = {**os.environ, "PORT": "abc", "DATABASE_URL": "postgresql://127.0.0.1:1/x"}
    started = subprocess.run(
        [sys.executable, "-m", "functions.local.server"],
        env=environment_,
        cwd=project_root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode != 0
    assert "PORT='abc'" in started.stderr
    assert "Traceback" not in started.stderr
