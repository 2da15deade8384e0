"""Every failure is one exception type with its HTTP status; handlers raise, never answer."""

from __future__ import annotations

from typing import Any, ClassVar


class ApiError(Exception):
    status: ClassVar[int]

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
    "already_paused": Conflict,
    "not_paused": Conflict,
    "already_indefinite": Conflict,
    "admin_only": Forbidden,
    "triggered_by_not_member": Unprocessable,
    "idempotency_key_reused": Unprocessable,
}


def refusal(error: dict[str, Any]) -> ApiError:
    """The exception for a refusal a lifecycle function answered with."""
    error_type = _REFUSALS[error["code"]]
    return error_type(error["code"], error["message"], error.get("details"))


def database_unavailable() -> Unavailable:
    return Unavailable("database_unavailable", "The database is not answering; retry shortly.")
