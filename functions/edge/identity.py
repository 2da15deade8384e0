"""Who calls: a Supabase-style JWT, verified, as an attendant or the service; or one of
Supabase's opaque secret API keys (`sb_secret_…`), which is the service."""

from __future__ import annotations

import hmac
import logging
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

from flask import Request
from pydantic import BaseModel

from functions.edge.jwks import signing_keys
from functions.shared.config import SECRET_KEY_PREFIX, config
from functions.shared.errors import Forbidden, ServerMisconfigured, Unauthorized

# Asymmetric keys come from the JWKS; HS256 from the shared secret. `none` is never accepted.
_ASYMMETRIC_ALGORITHMS = ["RS256", "ES256", "EdDSA"]
_CACHE_SIZE = 4096
# The longest a token may still have to live. Supabase's longest-lived are the legacy
# anon and service_role keys, issued for 10 years (3652.5 days); the CLI's demo keys end in
# 2032. One that claims to live longer (exp = 2^63) was not issued by Supabase, and would be
# good for ever if it leaked.
LONGEST_TOKEN_LIFETIME_SECONDS = 3653 * 24 * 3600
log = logging.getLogger("takeover.identity")


class CallerKind(StrEnum):
    ATTENDANT = "attendant"  # a signed-in inbox user: role and aud `authenticated`
    SERVICE = "service"  # the service role key: the AI agent, the cron, the backend


@dataclass(frozen=True)
class Caller:
    kind: CallerKind
    user_id: UUID | None  # the attendant's id; None for the service

    @property
    def attendant_id(self) -> UUID | None:
        return self.user_id if self.kind is CallerKind.ATTENDANT else None


ANYONE = frozenset(CallerKind)
SERVICE_ONLY = frozenset({CallerKind.SERVICE})


class _VerifiedTokens:
    """Tokens already verified, until they expire: the AI agent sends the same service
    key before every message, and verifying a signature costs more than the gate itself."""

    def __init__(self) -> None:
        self._callers: dict[str, tuple[Caller, float]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> Caller | None:
        entry = self._callers.get(token)
        if entry is None or entry[1] <= time.time():
            return None
        return entry[0]

    def put(self, token: str, caller: Caller, expires_at: float) -> None:
        with self._lock:
            if len(self._callers) >= _CACHE_SIZE:
                self._callers.clear()
            self._callers[token] = (caller, expires_at)


_verified = _VerifiedTokens()


def check_configuration() -> bool:
    """Say in the log, at start, when this deployment can verify no credential at all;
    whether it can verify some."""
    if config().verifies_credentials:
        return True
    log.error(
        "server_misconfigured: no SUPABASE_JWT_SECRET, SUPABASE_JWKS_URL or"
        " SUPABASE_SECRET_KEYS is set; every call will answer 500 server_misconfigured"
    )
    return False


def authenticate(request: Request, allow: frozenset[CallerKind]) -> Caller:
    """The verified caller of the request, if it is one of `allow`."""
    caller = identify(_credential(request))
    if caller.kind not in allow:
        raise Forbidden("service_only", "Only the service role may call this function.")
    return caller


def identify(token: str) -> Caller:
    settings = config()
    if not settings.verifies_credentials:
        raise _misconfigured("a credential but no way to verify any is configured")
    if token.startswith(SECRET_KEY_PREFIX):
        return _secret_key_caller(token)
    cached = _verified.get(token)
    if cached is not None:
        return cached
    claims = _verify(token)
    caller = _caller_from(claims)
    _verified.put(token, caller, float(claims["exp"]))
    return caller


def _credential(request: Request) -> str:
    """`Authorization: Bearer <JWT or secret key>`, else an `apikey: <key>` header alone
    (how Supabase's clients send a secret key). Both at once: the Authorization header, as
    Supabase's gateway reads them (apikey then names the project, Authorization the user)."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("missing_token", "Send Authorization: Bearer <JWT>.")
        return token.strip()
    apikey = request.headers.get("apikey", "").strip()
    if apikey:
        return apikey
    raise Unauthorized("missing_token", "Send Authorization: Bearer <JWT>.")


def _secret_key_caller(key: str) -> Caller:
    keys = config().secret_keys
    if not keys:
        raise _misconfigured("a secret key (sb_secret_…) but SUPABASE_SECRET_KEYS is not set")
    # Every configured key is compared, each in constant time: neither the time nor the
    # number of comparisons tells how much of a guess was right.
    matched = False
    for candidate in keys:
        matched |= hmac.compare_digest(key.encode(), candidate.encode())
    if not matched:
        raise Unauthorized("invalid_token", "The secret key is not one of this project's.")
    return Caller(CallerKind.SERVICE, None)


class _OncePerInterval:
    """Whether a message is due: each distinct one at most once per interval. Every such
    request's own log line names the cause already; this ERROR line only makes sure an
    operator sees it, and a flood of tokens the deployment cannot verify (anyone can send
    them) must not become a flood of ERROR lines."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def due(self, message: str) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(message)
            if last is not None and now - last < self._seconds:
                return False
            if len(self._last) >= _CACHE_SIZE:
                self._last.clear()
            self._last[message] = now
            return True


_misconfiguration_said = _OncePerInterval(60.0)


def _misconfigured(what: str) -> ServerMisconfigured:
    cause = f"the request carries {what}"
    if _misconfiguration_said.due(cause):
        log.error(
            "server_misconfigured: %s (said once a minute; each request's log line has it)", cause
        )
    return ServerMisconfigured(
        "This deployment cannot verify the credential it was sent; its operator must configure it.",
        cause,
    )


def _verify(token: str) -> dict[str, Any]:
    # Imported here: PyJWT loads `cryptography`, about a tenth of a target's start, which a
    # target whose callers send secret keys never needs.
    import jwt

    settings = config()
    try:
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        if algorithm in _ASYMMETRIC_ALGORITHMS:
            if not settings.jwks_url:
                raise _misconfigured(f"an {algorithm} token but SUPABASE_JWKS_URL is not set")
            kid = header.get("kid")
            if not isinstance(kid, str):
                raise Unauthorized("invalid_token", "The token names no signing key (kid).")
            signing_key = signing_keys(settings.jwks_url).key(kid)
            # The key's own algorithm, not the token's claim: an ES256 token naming an RSA
            # key is refused, not fed to the wrong verifier.
            key: Any = signing_key.key
            algorithms = [signing_key.algorithm_name]
        elif algorithm == "HS256" and not settings.jwt_secret:
            raise _misconfigured("an HS256 token but SUPABASE_JWT_SECRET is not set")
        else:
            # Any other algorithm (`none` above all) meets HS256 only, and fails.
            key, algorithms = settings.jwt_secret or "", ["HS256"]
        # The audience is checked by role below: the service key has none. A token that
        # never expires is refused: a leaked one would be good forever.
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            options={"verify_aud": False, "require": ["exp"]},
            leeway=5,
        )
    except jwt.ExpiredSignatureError as error:
        raise Unauthorized("token_expired", "The token has expired; sign in again.") from error
    except jwt.MissingRequiredClaimError as error:
        raise Unauthorized("invalid_token", "The token has no exp (expiry).") from error
    except jwt.InvalidTokenError as error:
        raise Unauthorized("invalid_token", "The token is not a valid signed JWT.") from error
    # PyJWT has checked that exp reads as an integer; compared, not subtracted: 10**400 is
    # an integer too, and no float.
    if int(claims["exp"]) > time.time() + LONGEST_TOKEN_LIFETIME_SECONDS:
        raise Unauthorized(
            "invalid_token", "The token expires more than 10 years from now; none lives that long."
        )
    return claims


def _caller_from(claims: dict[str, Any]) -> Caller:
    role = claims.get("role")
    if role == "service_role":
        return Caller(CallerKind.SERVICE, None)
    if role == "authenticated":
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if "authenticated" not in audiences:
            raise Unauthorized("invalid_token", "An attendant's token must have aud authenticated.")
        # Only the project's Auth issues attendants' tokens (the legacy service key's iss is
        # "supabase": not Auth's, so not checked).
        issuer = config().auth_issuer
        if issuer is not None and claims.get("iss") != issuer:
            raise Unauthorized("invalid_token", "The token was not issued by this project's Auth.")
        try:
            return Caller(CallerKind.ATTENDANT, UUID(str(claims.get("sub"))))
        except ValueError as error:
            raise Unauthorized("invalid_token", "The token's sub is not a user id.") from error
    raise Forbidden("role_not_allowed", "Only attendants and the service role may call Takeover.")


def transition_arguments(caller: Caller, body: BaseModel) -> dict[str, Any]:
    """A transition's arguments: the body's fields, and who it is written as, the lifecycle
    functions' `caller` (the attendant, whose membership they check) and `triggered_by`
    (whom the service acts for). An attendant never names someone else."""
    triggered_by: UUID | None = getattr(body, "triggered_by", None)
    if triggered_by is not None and caller.kind is not CallerKind.SERVICE:
        raise Forbidden(
            "triggered_by_not_allowed", "Only the service may act on an attendant's behalf."
        )
    return body.model_dump(exclude={"triggered_by"}) | {
        "caller": caller.attendant_id,
        "triggered_by": triggered_by,
    }
