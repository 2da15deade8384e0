"""The one way to reach the database: this instance's adapter, created on first use.

Two adapters implement it: `PostgresDatabase` (psycopg 3 and a pool, with DATABASE_URL,
the default) and `SupabaseDatabase` (supabase-py RPC, with SUPABASE_URL).
"""

from __future__ import annotations

import threading

from functions.shared.config import config
from functions.shared.dbapi import Database
from functions.shared.errors import ServerMisconfigured
from functions.shared.postgres import PostgresDatabase

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
        return PostgresDatabase(settings.database_url)
    if settings.supabase_url and settings.supabase_service_role_key:
        # Imported only here: supabase-py is heavy, and most deployments never load it.
        from functions.shared.supabase_rpc import SupabaseDatabase

        return SupabaseDatabase(settings.supabase_url, settings.supabase_service_role_key)
    # The operator's to fix, not an outage to retry.
    raise ServerMisconfigured(
        "This deployment has no database configured; its operator must configure one.",
        "neither DATABASE_URL nor SUPABASE_URL with SUPABASE_SERVICE_ROLE_KEY is set",
    )
