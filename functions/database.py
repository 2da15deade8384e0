"""The one way to reach the database: call a lifecycle function, get its answer.

Two adapters implement it: `PostgresDatabase` (psycopg 3 and a pool, with DATABASE_URL,
the default) and `SupabaseDatabase` (supabase-py RPC, with SUPABASE_URL).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Protocol

from functions.config import config
from functions.errors import Unavailable, refusal

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


_database: Database | None = None
_database_lock = threading.Lock()


def database() -> Database:
    """This instance's database, created on first use (a pool per instance, not per call)."""
    global _database
    if _database is None:
        with _database_lock:
            if _database is None:
                _database = _from_config()
    return _database


def use_database(database: Database | None) -> Database | None:
    """Install the database every function uses (the local server, tests); the old one."""
    global _database
    with _database_lock:
        previous, _database = _database, database
    return previous


def _from_config() -> Database:
    settings = config()
    if settings.database_url:
        from functions.postgres import PostgresDatabase

        return PostgresDatabase(settings.database_url)
    if settings.supabase_url and settings.supabase_service_role_key:
        from functions.supabase_rpc import SupabaseDatabase

        return SupabaseDatabase(settings.supabase_url, settings.supabase_service_role_key)
    raise Unavailable(
        "database_not_configured",
        "Set DATABASE_URL, or SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY.",
    )
