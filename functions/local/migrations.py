"""Applies the Supabase migrations to a plain Postgres (or a Supabase database URL).

Applied versions are recorded where the Supabase CLI records them
(`supabase_migrations.schema_migrations`), so `supabase db push` and this agree.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "supabase" / "migrations"
SEED = ROOT / "supabase" / "seed.sql"
# Four weeks of ended pauses for the console's Reports view: make run only, never the tests.
DEMO_HISTORY = ROOT / "supabase" / "demo_history.sql"
SHIM = ROOT / "sql" / "supabase_shim.sql"
# Two processes starting at once (make run beside make test) apply migrations one at a time.
_LOCK_KEY = 0x74616B656F766572  # "takeover"


def apply(url: str) -> list[str]:
    """Apply pending migrations; the versions applied now."""
    applied: list[str] = []
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            connection.execute(SHIM.read_text())
            connection.execute(
                "create schema if not exists supabase_migrations;"
                " create table if not exists supabase_migrations.schema_migrations"
                " (version text primary key, statements text[], name text)"
            )
            done = {
                row[0]
                for row in connection.execute(
                    "select version from supabase_migrations.schema_migrations"
                )
            }
            for path in sorted(MIGRATIONS.glob("*.sql")):
                version, _, name = path.stem.partition("_")
                if version in done:
                    continue
                with connection.transaction():
                    connection.execute(path.read_text())
                    connection.execute(
                        "insert into supabase_migrations.schema_migrations (version, name)"
                        " values (%s, %s)",
                        (version, name),
                    )
                applied.append(version)
        finally:
            connection.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied


def seed_if_empty(url: str) -> bool:
    """Load the demo workspace into a database that has none; whether it did."""
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute("select exists (select 1 from public.workspaces)").fetchone()
        if row and row[0]:
            return False
        with connection.transaction():
            connection.execute(SEED.read_text())
    return True


def load_demo_history(url: str) -> None:
    """Add the demo workspace's past takeovers (make run, right after seeding)."""
    with psycopg.connect(url, autocommit=True) as connection, connection.transaction():
        connection.execute(DEMO_HISTORY.read_text())
