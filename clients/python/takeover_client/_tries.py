"""A call's tries, shared by the sync and the async client without their I/O: the retry
rule, the one deadline of a call, and what an answer may be."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import httpx

from takeover_client._errors import (
    TakeoverError,
    TakeoverUnavailable,
    UnreadableAnswer,
    error_from,
)

MAX_ANSWER_BYTES = 1024 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: at most `attempts` tries, waiting `backoff` (doubled each time,
    with jitter) or the server's Retry-After, never more than `max_wait` at once, and never
    past the call's deadline."""

    attempts: int = 3
    backoff: float = 0.2
    max_wait: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a call makes at least one attempt")

    def wait(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_wait)
        jitter = 0.5 + random.random()  # noqa: S311 (spreading retries, not a secret)
        return min(self.backoff * 2.0 ** (attempt - 1) * jitter, self.max_wait)


@dataclass(frozen=True)
class Reply:
    """An answer read in full (within the client's size cap)."""

    status: int
    headers: httpx.Headers
    body: bytes


# When the current call must end (time.monotonic()): every connect, TLS handshake, read and
# write of its connection ends by then (_async/transport.py).
_deadline: ContextVar[float | None] = ContextVar("takeover_client_deadline", default=None)


def within(timeout: float | None, expired: type[Exception]) -> float | None:
    """A network operation's time: its own timeout, but no later than the call's deadline.
    httpx's timeouts are per operation, so a server sending a byte at a time would never
    reach them; this bounds the call as a whole."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the call's deadline passed")
    return left if timeout is None else min(timeout, left)


class Tries:
    """A call's tries without the I/O, so that the retry rule is written once: each client
    sends each try inside `attempt()`, hands a try that got no 200 to `settle` and waits what
    it says."""

    def __init__(self, policy: RetryPolicy, timeout: float, retry: bool) -> None:
        self._policy = policy
        self._attempts = policy.attempts if retry else 1
        self._deadline = time.monotonic() + timeout
        self._tried = 0

    @contextmanager
    def attempt(self) -> Iterator[float]:
        """The seconds left, with the deadline set for the network operations inside."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TakeoverUnavailable(0, "timeout", "The call's deadline passed.")
        token = _deadline.set(self._deadline)
        try:
            yield left
        finally:
            _deadline.reset(token)

    def settle(self, failure: Reply | httpx.TransportError) -> float:
        """The seconds to wait before the next try after a retryable failure (an answer
        other than 200, or none); raises any other failure, and the last one when no try or
        no time is left."""
        self._tried += 1
        if isinstance(failure, httpx.TransportError):
            error: TakeoverError = _unavailable(failure)
            retry_after = None
        else:
            error = error_from(failure.status, failure.body)
            if not isinstance(error, TakeoverUnavailable):
                raise error
            retry_after = _retry_after(failure.headers)
        wait = self._policy.wait(self._tried, retry_after)
        if self._tried >= self._attempts or wait >= self._deadline - time.monotonic():
            raise error
        return wait


def _unavailable(error: httpx.TransportError) -> TakeoverUnavailable:
    code = "timeout" if isinstance(error, httpx.TimeoutException) else "connection_failed"
    return TakeoverUnavailable(0, code, f"{type(error).__name__}: {error}")


def _retry_after(headers: httpx.Headers) -> float | None:
    try:
        return max(0.0, float(headers["retry-after"]))
    except (KeyError, ValueError):
        return None


def declared_size(response: httpx.Response) -> int:
    """The answer's Content-Length, 0 when it has none that is a number."""
    try:
        return int(response.headers.get("content-length", "0"))
    except ValueError:
        return 0


def too_large(response: httpx.Response, limit: int) -> UnreadableAnswer:
    return UnreadableAnswer(
        response.status_code, "answer_too_large", f"The answer is over {limit} bytes."
    )
