"""Every failure is one exception type with its HTTP status; handlers raise, never answer."""

from __future__ import annotations

from typing import Any, ClassVar


class ApiError(Exception):
    status: ClassVar[int]
    # For the log line only, never the answer: what the operator needs (a traceback, a
    # misconfiguration's cause).
    cause: str | None = None

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class MethodNotAllowed(ApiError):
    status = 405

    def __init__(self, allowed: frozenset[str]) -> None:
        super().__init__(
            "method_not_allowed",
            f"Use {' or '.join(sorted(allowed))}.",
            {"allowed": sorted(allowed)},
        )
        self.allowed = allowed


class Conflict(ApiError):
    status = 409


class PayloadTooLarge(ApiError):
    status = 413


class Unprocessable(ApiError):
    status = 422


class InternalError(ApiError):
    status = 500  # a bug of ours; never for anything a caller sent


class ServerMisconfigured(ApiError):
    """A deployment that cannot verify a credential or reach its database with what it was
    given (no key to check a token with, a wrong database key, a missing migration): not
    retryable. `cause` goes to the log, never to the caller."""

    status = 500
    cause: str

    def __init__(self, message: str, cause: str) -> None:
        super().__init__("server_misconfigured", message)
        self.cause = cause


class Unavailable(ApiError):
    status = 503
    retry_after_seconds: ClassVar[int] = 2


# The refusals the lifecycle functions return (supabase/migrations), by code.
_REFUSALS: dict[str, type[ApiError]] = {
    "conversation_not_found": NotFound,
    "workspace_not_found": NotFound,
    "team_not_found": NotFound,
    "webhook_endpoint_not_found": NotFound,
    "already_paused": Conflict,
    "not_paused": Conflict,
    "already_indefinite": Conflict,
    "admin_only": Forbidden,
    "triggered_by_not_member": Unprocessable,
    "idempotency_key_reused": Unprocessable,
    "invalid_window": Unprocessable,
    "window_too_long": Unprocessable,
    "invalid_cursor": Unprocessable,
}


# The codes the edge answers by itself, before or around a lifecycle function (the OpenAPI
# description lists them with the refusals above; tests/test_docs.py keeps it complete).
EDGE_CODES = (
    "invalid_json",
    "invalid_body",
    "duplicate_key",
    "missing_token",
    "invalid_token",
    "token_expired",
    "role_not_allowed",
    "service_only",
    "triggered_by_not_allowed",
    "agent_id_not_allowed",
    "not_found",
    "method_not_allowed",
    "body_too_large",
    "validation_failed",
    "invalid_value",
    "invalid_idempotency_key",
    "internal_error",
    "server_misconfigured",
    "database_unavailable",
    "jwks_unavailable",
    "invalid_url",
    "export_not_configured",
    "storage_unavailable",
)


def error_codes() -> list[str]:
    """Every code an answer may carry, sorted."""
    return sorted({*_REFUSALS, *EDGE_CODES})


def refusal(error: dict[str, Any]) -> ApiError:
    """The exception for a refusal a lifecycle function answered with."""
    error_type = _REFUSALS[error["code"]]
    return error_type(error["code"], error["message"], error.get("details"))


def database_unavailable() -> Unavailable:
    return Unavailable("database_unavailable", "The database is not answering; retry shortly.")


def invalid_value() -> Unprocessable:
    """A value the database refused (a domain check, say) that slipped past the edge."""
    return Unprocessable("invalid_value", "A value is out of its allowed range.")
