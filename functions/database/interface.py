"""What every database adapter implements: call a lifecycle function, get its answer."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from functions.shared.errors import refusal
from functions.shared.models import ONCE, CallOptions, Idempotency

Arguments = Mapping[str, object]


class Database(Protocol):
    def call(
        self, function: str, arguments: Arguments, options: CallOptions = ONCE
    ) -> dict[str, Any]:
        """Run `public.takeover_<function>` with `p_<name>` arguments as `options` allow; its
        answer, or the refusal it returned raised as an ApiError; Unavailable when the
        database is down (or a heavy read's connections stay busy while it waits)."""
        ...

    def ping(self) -> None:
        """Raise Unavailable unless the database answers."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Streaming(Database, Protocol):
    """A database that can also stream a set-returning function's rows, without holding
    them all (the Postgres adapter; PostgREST answers a call's whole result at once)."""

    def stream(
        self, function: str, arguments: Arguments, *, fetch_rows: int
    ) -> AbstractContextManager[Iterator[tuple[Any, ...]]]:
        """The rows of the set-returning `public.takeover_<function>`, `fetch_rows` at a
        time, read in one transaction in the heavy class; Unavailable when the database
        is down or the class stays busy."""
        ...


def with_idempotency(arguments: Arguments, idempotency: Idempotency | None) -> Arguments:
    """The arguments, plus the Idempotency-Key as the transitions take it (without one, they
    default to none)."""
    if idempotency is None:
        return arguments
    return {
        **arguments,
        "idempotency_key": idempotency.key,
        "request_hash": idempotency.request_hash,
    }


def answer(result: Any) -> dict[str, Any]:
    """A lifecycle function's answer; a refusal (`{"error": ...}`) is raised."""
    if not isinstance(result, dict):
        raise TypeError(f"a lifecycle function answered {result!r}")
    error = result.get("error")
    if isinstance(error, dict):
        raise refusal(error)
    return result
