"""The database through psycopg 3 and a connection pool (DATABASE_URL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import psycopg
import psycopg_pool
from psycopg import sql

from functions.shared.config import config
from functions.shared.dbapi import Arguments, answer
from functions.shared.errors import Unprocessable, database_unavailable


@cache
def _statement(function: str, names: tuple[str, ...]) -> bytes:
    """`select public.takeover_<function>(p_a => %s, ...)::text`, rendered once per shape:
    psycopg then neither composes nor converts it again on each call, and the server keeps
    it prepared. The answer comes back as JSON text, which json.loads parses faster than
    psycopg's jsonb loader does."""
    arguments = sql.SQL(", ").join(
        sql.SQL("{} => %s").format(sql.Identifier(f"p_{name}")) for name in names
    )
    statement = sql.SQL("select {}({})::text").format(
        sql.Identifier("public", f"takeover_{function}"), arguments
    )
    return statement.as_bytes()


class _Connection(psycopg.Connection[Any]):
    """A pooled connection that keeps one cursor for every call made on it: creating a
    cursor per call costs a good part of a call as cheap as the gate."""

    _calls: psycopg.Cursor[Any] | None = None

    def calls(self) -> psycopg.Cursor[Any]:
        if self._calls is None or self._calls.closed:
            self._calls = self.cursor()
        return self._calls


class PostgresDatabase:
    def __init__(self, url: str, *, min_size: int = 1, max_size: int | None = None) -> None:
        settings = config()
        timeout = settings.database_timeout_seconds
        self._pool = psycopg_pool.ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size or settings.database_pool_size,
            connection_class=_Connection,
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
                row = connection.calls().execute(statement, tuple(arguments.values())).fetchone()
        except (psycopg_pool.PoolTimeout, psycopg.OperationalError) as error:
            raise database_unavailable() from error
        except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as error:
            # The edge validates first; this guards what slips past it (say, a domain check).
            raise Unprocessable("invalid_value", "A value is out of its allowed range.") from error
        assert row is not None
        return answer(None if row[0] is None else json.loads(row[0]))

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection inside one transaction, for the rare work that is more than
        one call (the audit export streams the log through a server-side cursor). One
        transaction, no session state: it works through a transaction-mode pooler."""
        try:
            with self._pool.connection() as connection, connection.transaction():
                yield connection
        except (psycopg_pool.PoolTimeout, psycopg.OperationalError) as error:
            raise database_unavailable() from error

    def ping(self) -> None:
        try:
            with self._pool.connection() as connection:
                connection.calls().execute(b"select 1")
        except (psycopg_pool.PoolTimeout, psycopg.OperationalError) as error:
            raise database_unavailable() from error

    def close(self) -> None:
        self._pool.close()
