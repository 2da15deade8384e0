"""The one way to reach the database: this instance's adapter, created on first use.

Two adapters implement it: `PostgresDatabase` (psycopg 3 and a pool, with DATABASE_URL,
the default) and `SupabaseDatabase` (supabase-py RPC, with SUPABASE_URL).
"""

from __future__ import annotations

import contextlib
import os
import threading
from functools import cache

from functions.database.interface import Database
from functions.database.postgres import PostgresDatabase
from functions.shared.config import config
from functions.shared.errors import ApiError, ServerMisconfigured

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


@cache
def open_in_forked_workers() -> None:
    """From now on, each process forked from this one (a pre-fork server's worker:
    functions-framework runs gunicorn) opens its database as it starts, not at its first
    request: the connection's handshake overlaps the worker's boot and the first request's
    parsing and verification. This process opens nothing: a connection made before the
    fork would be shared by every worker, and a pool's threads do not survive it."""
    os.register_at_fork(after_in_child=_open_in_worker)


def _open_in_worker() -> None:
    global _database_lock
    # A lock copied from the parent may have been copied held.
    _database_lock = threading.Lock()
    # No database configured: each request answers that, as it would without this.
    with contextlib.suppress(ApiError):
        database()  # the pool connects in its own threads: this does not wait for it


def use_database(database: Database | None) -> Database | None:
    """Install the database every function uses (the local server, tests); the old one."""
    global _database
    with _database_lock:
        previous, _database = _database, database
    return previous


def _from_config() -> Database:
    settings = config()
    if settings.database_url:
        return PostgresDatabase(settings.database_url)
    if settings.supabase_url and settings.supabase_service_role_key:
        # Imported only here: supabase-py is heavy, and most deployments never load it.
        from functions.database.rest import SupabaseDatabase

        return SupabaseDatabase(settings.supabase_url, settings.supabase_service_role_key)
    # The operator's to fix, not an outage to retry.
    raise ServerMisconfigured(
        "This deployment has no database configured; its operator must configure one.",
        "neither DATABASE_URL nor SUPABASE_URL with SUPABASE_SERVICE_ROLE_KEY is set",
    )
