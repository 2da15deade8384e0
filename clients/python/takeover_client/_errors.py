"""How a call fails: Takeover's refusals, no answer in time, or an answer the client cannot
read."""

from __future__ import annotations

import json
from typing import Any

# Retrying these is safe: the server did nothing, or will give the same answer again.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


class TakeoverError(Exception):
    """A refusal from Takeover (`status` 4xx/5xx, `code` as in its error answer), or from
    the client itself: `status` 0 when no answer came (`no_url`, `timeout`,
    `connection_failed`), else the status of the answer it refused (`unreadable_answer`,
    `answer_too_large`, `not_takeover`)."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class TakeoverUnavailable(TakeoverError):
    """Takeover did not answer in time (timeouts, connection errors, 429/502/503/504), after
    the retries the call's deadline allowed: retrying later may succeed."""


class UnreadableAnswer(TakeoverError):
    """An answer the client cannot read in full: not JSON, a field missing or of the wrong
    type, or over the client's size cap. Not Takeover's answer, or not this client's
    version of it: retrying will not help."""


def error_from(status: int, body: bytes) -> TakeoverError:
    """The error a non-200 answer stands for: Takeover's own `{"error": {...}}`, or whatever
    else answered (a proxy, a server that is not Takeover)."""
    try:
        error = json.loads(body)["error"]
        code, message, details = str(error["code"]), str(error["message"]), error.get("details")
    except (ValueError, KeyError, TypeError, RecursionError):
        text = body[:200].decode("utf-8", "replace").strip()
        code, message, details = "http_error", text or f"HTTP {status}", None
    kind = TakeoverUnavailable if status in RETRYABLE_STATUSES else TakeoverError
    return kind(status, code, message, details)
