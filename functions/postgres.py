"""The database through psycopg 3 and a connection pool (DATABASE_URL)."""

from __future__ import annotations

from functools import cache
from typing import Any

import psycopg
import psycopg_pool
from psycopg import sql

from functions.config import config
from functions.database import Arguments, answer
from functions.errors import Unprocessable, database_unavailable


@cache
def _statement(function: str, names: tuple[str, ...]) -> sql.Composed:
    """`select public.takeover_<function>(p_a => %(a)s, ...)`, built once per shape so the
    server can keep it prepared."""
    arguments = sql.SQL(", ").join(
        sql.SQL("{} => {}").format(sql.Identifier(f"p_{name}"), sql.Placeholder(name))
        for name in names
    )
    return sql.SQL("select {}({})").format(
        sql.Identifier("public", f"takeover_{function}"), arguments
    )


class PostgresDatabase:
    def __init__(self, url: str, *, min_size: int = 1, max_size: int | None = None) -> None:
        settings = config()
        timeout = settings.database_timeout_seconds
        self._pool = psycopg_pool.ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size or settings.database_pool_size,
            # A call is one statement: autocommit makes it one round trip, no BEGIN/COMMIT.
            kwargs={
                "autocommit": True,
                "connect_timeout": max(1, int(timeout)),
                "options": f"-c statement_timeout={int(timeout * 1000)}",
            },
            timeout=timeout,
            name="takeover",
            open=False,
        )
        self._pool.open(wait=False)

    def call(self, function: str, arguments: Arguments) -> dict[str, Any]:
        statement = _statement(function, tuple(arguments))
        try:
            with self._pool.connection() as connection:
                row = connection.execute(statement, arguments).fetchone()
        except (psycopg_pool.PoolTimeout, psycopg.OperationalError) as error:
            raise database_unavailable() from error
        except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as error:
            # The edge validates first; this guards what slips past it (say, a domain check).
            raise Unprocessable("invalid_value", "A value is out of its allowed range.") from error
        assert row is not None
        return answer(row[0])

    def ping(self) -> None:
        try:
            with self._pool.connection() as connection:
                connection.execute("select 1")
        except (psycopg_pool.PoolTimeout, psycopg.OperationalError) as error:
            raise database_unavailable() from error

    def close(self) -> None:
        self._pool.close()
