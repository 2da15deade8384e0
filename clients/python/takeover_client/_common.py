"""What the sync and the async client share: requests, retries, answers."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import httpx

AiMode = Literal["active", "paused"]
# Retrying these is safe: the server did nothing, or will give the same answer again.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


class TakeoverError(Exception):
    """A refusal from Takeover (`status` 4xx/5xx, `code` as in the contract)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class TakeoverUnavailable(TakeoverError):
    """Takeover did not answer in time (timeouts, connection errors, 503s), after retries."""


@dataclass(frozen=True)
class Decision:
    """The gate's answer. `allowed` is True only when Takeover said so."""

    allowed: bool
    reason: Literal["allowed", "paused", "unavailable", "refused"]
    ai_mode: AiMode | None = None
    paused_until: datetime | None = None
    event_id: int | None = None
    error: str | None = None  # why Takeover could not be asked (reason unavailable/refused)


@dataclass(frozen=True)
class PauseState:
    conversation_id: str
    ai_mode: AiMode
    paused_at: datetime | None
    paused_until: datetime | None
    paused_by: str | None
    duration_minutes: int | None
    default_duration_minutes: int | None
    event_id: int | None


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: at most `attempts` tries, waiting `backoff` (doubled each time,
    with jitter) or the server's Retry-After, never more than `max_wait` at once."""

    attempts: int = 3
    backoff: float = 0.2
    max_wait: float = 5.0

    def wait(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            after = _retry_after(response)
            if after is not None:
                return min(after, self.max_wait)
        jitter = 0.5 + random.random()  # noqa: S311 (spreading retries, not a secret)
        return min(self.backoff * 2.0 ** (attempt - 1) * jitter, self.max_wait)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def auth_headers(service_key: str) -> dict[str, str]:
    """A JWT goes as a bearer token; Supabase's opaque `sb_secret_...` keys also as apikey."""
    headers = {"Authorization": f"Bearer {service_key}"}
    if service_key.startswith("sb_"):
        headers["apikey"] = service_key
    return headers


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


def function_url(base_url: str, name: str) -> str:
    return f"{base_url.rstrip('/')}/functions/v1/{name}"


def time_or_none(value: Any) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def pause_state(body: Mapping[str, Any]) -> PauseState:
    return PauseState(
        conversation_id=str(body["conversation_id"]),
        ai_mode=body["ai_mode"],
        paused_at=time_or_none(body.get("paused_at")),
        paused_until=time_or_none(body.get("paused_until")),
        paused_by=body.get("paused_by"),
        duration_minutes=body.get("duration_minutes"),
        default_duration_minutes=body.get("default_duration_minutes"),
        event_id=body.get("event_id"),
    )


def decision(body: Mapping[str, Any]) -> Decision:
    allowed = body.get("allowed") is True
    return Decision(
        allowed=allowed,
        reason="allowed" if allowed else "paused",
        ai_mode=body.get("ai_mode"),
        paused_until=time_or_none(body.get("paused_until")),
        event_id=body.get("event_id"),
    )


def error_from(response: httpx.Response) -> TakeoverError:
    try:
        error = response.json()["error"]
        code, message, details = str(error["code"]), str(error["message"]), error.get("details")
    except (ValueError, KeyError, TypeError):
        code, message, details = "http_error", response.text[:200] or response.reason_phrase, None
    kind = TakeoverUnavailable if response.status_code in RETRYABLE_STATUSES else TakeoverError
    return kind(response.status_code, code, message, details)


def unavailable(error: Exception) -> TakeoverUnavailable:
    return TakeoverUnavailable(0, "unavailable", f"{type(error).__name__}: {error}")


def body_without_unset(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not _UNSET}


def gate_body(conversation_id: Any, message_id: str, agent_id: str) -> dict[str, Any]:
    return {"conversation_id": str(conversation_id), "message_id": message_id, "agent_id": agent_id}


def gate_refusal(error: Exception) -> Decision:
    """The gate's "do not send" when Takeover could not say "allowed": fails closed."""
    if isinstance(error, TakeoverUnavailable):
        return Decision(False, "unavailable", error=error.code)
    if isinstance(error, TakeoverError):
        return Decision(False, "refused", error=error.code)
    return Decision(False, "unavailable", error=type(error).__name__)


def blocked_body(
    conversation_id: Any, message_id: str | None, agent_id: str, reason: str | None
) -> dict[str, Any]:
    return body_without_unset(
        conversation_id=str(conversation_id),
        action="interaction_blocked",
        message_id=message_id if message_id is not None else _UNSET,
        agent_id=agent_id,
        reason=reason if reason is not None else _UNSET,
    )


def pause_body(
    conversation_id: Any, reason: str | None, triggered_by: Any, duration_minutes: Any
) -> dict[str, Any]:
    return body_without_unset(
        conversation_id=str(conversation_id),
        duration_minutes=duration_minutes,
        reason=reason if reason is not None else _UNSET,
        triggered_by=str(triggered_by) if triggered_by is not None else _UNSET,
    )


class ClientBase:
    """What both clients hold besides their HTTP client: where Takeover is, the service
    key's headers, and the retry policy."""

    def __init__(self, base_url: str, service_key: str, retry: RetryPolicy | None) -> None:
        self._base_url = base_url
        self._retry = retry or RetryPolicy()
        self._auth = auth_headers(service_key)

    def _target(
        self, name: str, idempotency_key: str | None, retry: bool
    ) -> tuple[str, dict[str, str], int]:
        """A call's URL, headers and how many tries it may take."""
        headers = dict(self._auth)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        attempts = self._retry.attempts if retry else 1
        return function_url(self._base_url, name), headers, attempts


def settle(response: httpx.Response) -> dict[str, Any] | TakeoverError:
    """A 200's answer; a retryable failure to try again; any other failure is raised."""
    if response.status_code == 200:
        answer: dict[str, Any] = response.json()
        return answer
    failure = error_from(response)
    if response.status_code not in RETRYABLE_STATUSES:
        raise failure
    return failure


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


_UNSET: Any = _Unset()
UNSET: Any = _UNSET  # "leave the field out" (a pause's duration: the effective default)
