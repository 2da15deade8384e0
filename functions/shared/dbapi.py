"""What every database adapter implements: call a lifecycle function, get its answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from functions.shared.errors import refusal

Arguments = Mapping[str, object]


class Database(Protocol):
    def call(self, function: str, arguments: Arguments) -> dict[str, Any]:
        """Run `public.takeover_<function>` with `p_<name>` arguments; its answer, or the
        refusal it returned raised as an ApiError; Unavailable when the database is down."""
        ...

    def ping(self) -> None:
        """Raise Unavailable unless the database answers."""
        ...

    def close(self) -> None: ...


def answer(result: Any) -> dict[str, Any]:
    """A lifecycle function's answer; a refusal (`{"error": ...}`) is raised."""
    if not isinstance(result, dict):
        raise TypeError(f"a lifecycle function answered {result!r}")
    error = result.get("error")
    if isinstance(error, dict):
        raise refusal(error)
    return result
