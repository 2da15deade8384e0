"""python -m functions.migrations: apply the pending migrations to DATABASE_DIRECT_URL (else
DATABASE_URL), a direct or session connection, never a transaction pooler. Needs only
requirements.txt and this checkout. Says what it applied; a refusal is one line on stderr
and exit status 1, never a traceback."""

from __future__ import annotations

import psycopg

from functions.migrations import MissingDatabase, UnknownMigrations, apply
from functions.shared.config import config_or_exit


def main() -> None:
    settings = config_or_exit()
    variable, url = (
        ("DATABASE_DIRECT_URL", settings.database_direct_url)
        if settings.database_direct_url
        else ("DATABASE_URL", settings.database_url)
    )
    if url is None:
        raise SystemExit("Set DATABASE_DIRECT_URL (or DATABASE_URL) to the database to migrate.")
    try:
        applied = apply(url)
    except (MissingDatabase, UnknownMigrations) as refused:
        raise SystemExit(f"{variable}: {refused}") from None
    except psycopg.OperationalError as error:
        raise SystemExit(f"{variable}: cannot connect: {' '.join(str(error).split())}") from None
    print(f"applied: {', '.join(applied)}" if applied else "applied: none pending")


if __name__ == "__main__":
    main()
