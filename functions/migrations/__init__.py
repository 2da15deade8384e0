"""Applies the Supabase migrations to a plain Postgres (or a Supabase database URL), from a
checkout with requirements.txt installed and nothing else:

    DATABASE_DIRECT_URL=postgresql://... python -m functions.migrations

Applied versions are recorded where the Supabase CLI records them
(`supabase_migrations.schema_migrations`), so `supabase db push` and this agree. `make run`
applies them through the same apply().
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from functions.database.postgres import missing_database

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "supabase" / "migrations"
SHIM = ROOT / "sql" / "supabase_shim.sql"
# Two processes starting at once (make run beside make test) apply migrations one at a time.
_LOCK_KEY = 0x74616B656F766572  # "takeover"


class UnknownMigrations(RuntimeError):
    """The database recorded migrations that supabase/migrations no longer has (renamed, or
    squashed into another): what is pending here cannot bring its schema up to date."""

    def __init__(self, recorded: list[str]) -> None:
        self.recorded = recorded
        super().__init__(
            "The database records migrations that supabase/migrations does not have (renamed,"
            f" or squashed into another): {', '.join(recorded)}. Nothing was applied. A"
            " development database: recreate it (make run's embedded one: stop make run and"
            " delete .data/postgres; under DATABASE_URL: drop and create that database). A"
            " deployed database: make its history match supabase/migrations first (supabase"
            " migration list, supabase migration repair)."
        )


class MissingDatabase(RuntimeError):
    """The URL names a database its server does not have: nothing to migrate yet."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f'The database "{name}" does not exist on that server: create it first'
            f' (createdb {name}, or `create database "{name}"`), then run this again.'
        )


def connect(url: str) -> psycopg.Connection[Any]:
    """An autocommit connection; MissingDatabase when the URL's database does not exist."""
    try:
        return psycopg.connect(url, autocommit=True)
    except psycopg.OperationalError as error:
        name = missing_database(error)
        if name is None:
            raise
        raise MissingDatabase(name) from None


def apply(url: str) -> list[str]:
    """Apply pending migrations; the versions applied now. Raises UnknownMigrations, applying
    nothing, when the database recorded a migration this checkout does not have, and
    MissingDatabase when the URL's database does not exist."""
    applied: list[str] = []
    with connect(url) as connection:
        connection.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            connection.execute(SHIM.read_text())
            connection.execute(
                "create schema if not exists supabase_migrations;"
                " create table if not exists supabase_migrations.schema_migrations"
                " (version text primary key, statements text[], name text)"
            )
            paths = {path.stem.partition("_")[0]: path for path in MIGRATIONS.glob("*.sql")}
            recorded: list[tuple[str, str | None]] = connection.execute(
                "select version, name from supabase_migrations.schema_migrations order by 1"
            ).fetchall()
            # A version recorded under another name (the Supabase CLI may leave it null) is
            # another migration: a squash may keep the first version of those it replaces.
            unknown = [
                f"{version}_{name}" if name else version
                for version, name in recorded
                if version not in paths or name not in (None, paths[version].stem.partition("_")[2])
            ]
            if unknown:
                raise UnknownMigrations(unknown)
            done = {version for version, _ in recorded}
            for version, path in sorted(paths.items()):
                if version in done:
                    continue
                name = path.stem.partition("_")[2]
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
