"""What the sync and the async client share: requests, retries, answers."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar
from uuid import UUID

import httpx

AiMode = Literal["active", "paused"]
Id = str | UUID
HttpClient = TypeVar("HttpClient", httpx.Client, httpx.AsyncClient)
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


class ClientBase(Generic[HttpClient]):
    """What both clients hold and do besides sending and waiting: where Takeover is, the
    service key's headers, the retry policy, and the rule of each call's tries."""

    def __init__(
        self,
        base_url: str,
        service_key: str,
        *,
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        http_client: HttpClient | None = None,
    ) -> None:
        """`base_url` is the project's URL (`https://<ref>.supabase.co`, or `make run`'s
        `http://127.0.0.1:54321`); `service_key` a service-role JWT or an `sb_secret_...` key."""
        self._base_url = base_url
        self._retry = retry or RetryPolicy()
        self._auth = auth_headers(service_key)
        self._http: HttpClient = http_client or self._new_http(timeout)

    def _new_http(self, timeout: float) -> HttpClient:
        raise NotImplementedError  # each client makes its own kind

    def _target(
        self, name: str, idempotency_key: str | None, retry: bool
    ) -> tuple[str, dict[str, str], Tries]:
        """A call's URL, headers and tries."""
        headers = dict(self._auth)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        tries = Tries(self._retry, self._retry.attempts if retry else 1)
        return function_url(self._base_url, name), headers, tries


class Tries:
    """A call's tries without the I/O, so that the retry rule is written once: each client
    sends the request, hands the outcome to `settle` and waits what it says."""

    def __init__(self, policy: RetryPolicy, attempts: int) -> None:
        if attempts < 1:  # no try allowed: unavailable, as every failure to ask
            raise TakeoverUnavailable(0, "unavailable", "not attempted")
        self._policy = policy
        self._attempts = attempts
        self._tried = 0

    def settle(self, outcome: httpx.Response | httpx.TransportError) -> dict[str, Any] | float:
        """A 200's answer, or the seconds to wait before the next try after a retryable
        failure; raises any other failure, and the last one when no try is left."""
        self._tried += 1
        failure: TakeoverError
        response: httpx.Response | None = None
        if isinstance(outcome, httpx.TransportError):
            failure = unavailable(outcome)
        elif outcome.status_code == 200:
            answer: dict[str, Any] = outcome.json()
            return answer
        else:
            failure, response = error_from(outcome), outcome
            if outcome.status_code not in RETRYABLE_STATUSES:
                raise failure
        if self._tried >= self._attempts:
            raise failure
        return self._policy.wait(self._tried, response)


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


_UNSET: Any = _Unset()
UNSET: Any = _UNSET  # "leave the field out" (a pause's duration: the effective default)
