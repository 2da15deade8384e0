"""The database through psycopg 3 and a connection pool (DATABASE_URL).

Every call works through a transaction-mode pooler (PgBouncer, Supabase's Supavisor on
6543): a connection carries no startup options, no session settings and no server-side
prepared statements, because the next call may land on another server connection.
"""

from __future__ import annotations

import json
import re
import select
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any, Self

import psycopg
import psycopg_pool
from psycopg import sql
from psycopg.abc import PQGen
from psycopg.pq.abc import PGresult

from functions.database.interface import Arguments, answer, with_idempotency
from functions.shared.config import config
from functions.shared.errors import (
    ApiError,
    ServerMisconfigured,
    database_unavailable,
    invalid_value,
)
from functions.shared.models import ONCE, CallOptions

# How much longer than the server's statement_timeout the client waits for an answer
# before it gives the connection up: the server's timeout ends a lock wait cleanly; this
# ends a call whose server (or pooler) has stopped answering at all.
_CLIENT_GRACE_SECONDS = 1.0
# How often a call that found its connection dead is sent again. Once is the rule; the
# second covers a connection that died in the same kill storm after the pool's check
# (a pooler may hand the retry a server connection killed a moment before).
_DEAD_CONNECTION_RETRIES = 2
# Connections found dead before the call went out cost nothing to skip, but a storm can
# hand out several in a row (connections other callers return after the pool's check).
_DEAD_IDLE_RETRIES = 8
# A function or table missing (42883, 42P01), or a role without its grant (42501).
_MISCONFIGURED = (
    psycopg.errors.UndefinedFunction,
    psycopg.errors.UndefinedTable,
    psycopg.errors.InsufficientPrivilege,
)


def _misconfigured(cause: str) -> ServerMisconfigured:
    return ServerMisconfigured(
        "The functions cannot use their database as it is; its operator must fix it.", cause
    )


# How Postgres (and PgBouncer, for a database it does not list) refuses a connection to a
# database that does not exist. libpq gives such a refusal no SQLSTATE, only its text.
_MISSING_DATABASE = re.compile(r'database "([^"]+)" does not exist|no such database: (\S+)')
# The database each URL's last connection attempt found missing: the operator's to fix (500
# server_misconfigured), not an outage to retry (503). Cleared by the next connection made.
_missing_databases: dict[str, str] = {}


def missing_database(error: psycopg.OperationalError) -> str | None:
    """The name of the database a connection was refused for not existing, else None."""
    found = _MISSING_DATABASE.search(str(error))
    return None if found is None else found.group(1) or found.group(2)


@cache
def _statement(function: str, names: tuple[str, ...], timeout_ms: int) -> bytes:
    """`set local statement_timeout = …; select public.takeover_<function>(p_a => %s, …)::text`,
    rendered once per shape. Both statements travel in one simple-protocol message, which
    Postgres runs as one implicit transaction: one round trip, the timeout bound to this
    call's transaction only (so a pooler's next client never inherits it), and nothing
    prepared on the server. The answer comes back as JSON text, which json.loads parses
    faster than psycopg's jsonb loader does."""
    statement = sql.SQL("set local statement_timeout = {}; select {}({})::text").format(
        sql.Literal(timeout_ms), sql.Identifier("public", f"takeover_{function}"), _named(names)
    )
    return statement.as_bytes()


def _named(names: tuple[str, ...]) -> sql.Composed:
    """`p_a => %s, p_b => %s`: the arguments of a lifecycle function, by name."""
    return sql.SQL(", ").join(
        sql.SQL("{} => %s").format(sql.Identifier(f"p_{name}")) for name in names
    )


class _CallCursor(psycopg.ClientCursor[Any]):
    """The cursor of a pooled connection; when a call fails, it notes whether the call's
    answer row had already arrived."""

    answered = False

    def _check_results(self, results: list[PGresult]) -> None:
        try:
            super()._check_results(results)
        except psycopg.Error:
            self.answered = any(
                result.status == psycopg.pq.ExecStatus.TUPLES_OK for result in results
            )
            raise


def _maybe_applied(error: psycopg.OperationalError, cursor: _CallCursor) -> bool:
    """Whether a call that died with its connection may have been applied. A backend
    terminated under it (57P01: pg_terminate_backend, a fast shutdown) sends its FATAL
    after whatever it had sent; and the answer row goes out before the implicit commit.
    So a FATAL with no row before it means no commit. Anything else (the socket closed
    with nothing said, a pooler gone) may have followed a commit."""
    return not (isinstance(error, psycopg.errors.AdminShutdown) and not cursor.answered)


class _Connection(psycopg.Connection[Any]):
    """A pooled connection that binds values on the client (nothing prepared on a server
    that a pooler shares), keeps one cursor for every call made on it (creating a cursor
    per call costs a good part of a call as cheap as the gate), and never waits longer than
    `guard_seconds` for the server."""

    guard_seconds: float | None = None
    # Set when the guard gave the server up: that connection did not die by itself, its
    # server stopped answering, and a retry would wait as long again.
    abandoned = False
    _calls: _CallCursor | None = None
    _readable: select.poll | None = None

    @classmethod
    def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
        """How the pool connects: a refusal for a missing database is noted for its URL."""
        try:
            connection = super().connect(conninfo, **kwargs)
        except psycopg.OperationalError as error:
            if (name := missing_database(error)) is not None:
                _missing_databases[conninfo] = name
            raise
        _missing_databases.pop(conninfo, None)
        return connection

    def died_idle(self) -> bool:
        """Whether the server closed this idle connection (a terminated backend sends its
        FATAL and hangs up; a stopped pooler hangs up): a local poll of the socket, no
        round trip. An idle connection has nothing to read, unless it is gone."""
        if self.pgconn.status != psycopg.pq.ConnStatus.OK:
            return True
        if self._readable is None:  # one per connection: its socket never changes
            self._readable = select.poll()
            self._readable.register(self.pgconn.socket, select.POLLIN)
        if not self._readable.poll(0):
            return False
        try:
            self.pgconn.consume_input()
        except psycopg.OperationalError:
            return True
        return self.pgconn.status != psycopg.pq.ConnStatus.OK

    def calls(self) -> _CallCursor:
        if self._calls is None or self._calls.closed:
            self._calls = _CallCursor(self)
        return self._calls

    def wait(self, gen: PQGen[Any], interval: float = 0.1, timeout: float | None = None) -> Any:
        try:
            return super().wait(
                gen, interval, timeout if timeout is not None else self.guard_seconds
            )
        except psycopg.errors.OperationalError:
            if self.pgconn.transaction_status == psycopg.pq.TransactionStatus.ACTIVE:
                # A query still running after the guard: the server or the pooler stopped
                # answering. The connection's state is unknown; close it so the pool drops it.
                self.abandoned = True
                self.pgconn.finish()
            raise


class _DeadConnection(Exception):
    """The pooled connection a call was given had died (its backend killed, its pooler or
    server restarted) while Postgres may well be up. `maybe_applied`: the call may have
    been committed before it died; else it certainly was not."""

    def __init__(self, error: psycopg.OperationalError, *, maybe_applied: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.maybe_applied = maybe_applied


class _Pool:
    """A connection pool and the statement timeout of every call made on it: the calls of one
    class (the gate and the transitions, or heavy reads)."""

    def __init__(
        self, url: str, name: str, *, min_size: int, max_size: int, statement_timeout: float
    ) -> None:
        wait = config().database_timeout_seconds
        self.timeout_ms = max(1, int(statement_timeout * 1000))
        guard = statement_timeout + _CLIENT_GRACE_SECONDS

        def configure(connection: psycopg.Connection[Any]) -> None:
            if isinstance(connection, _Connection):
                connection.guard_seconds = guard

        self.connections = psycopg_pool.ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            connection_class=_Connection,
            kwargs={
                # A call is one implicit transaction: no BEGIN/COMMIT round trips.
                "autocommit": True,
                # A pooler hands each transaction to any server connection: nothing prepared.
                "prepare_threshold": None,
                "connect_timeout": max(1, int(wait)),
            },
            configure=configure,
            # How long a call waits for a connection of its class: then 503.
            timeout=wait,
            name=name,
            open=False,
        )
        self.connections.open(wait=False)


class PostgresDatabase:
    """Two pools: one for the gate and the transitions, one for heavy reads. A heavy read
    never takes a connection from the first, so however many run at once the gate finds
    one; and no more than `heavy_size` of them hold a server connection (and a core) at a
    time, each for at most HEAVY_READ_TIMEOUT_SECONDS."""

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int | None = None,
        heavy_size: int | None = None,
    ) -> None:
        settings = config()
        self._url = url
        self._pool = _Pool(
            url,
            "takeover",
            min_size=min_size,
            max_size=max_size or settings.database_pool_size,
            statement_timeout=settings.database_timeout_seconds,
        )
        # No connection until the first heavy read: most instances (a deploy target of its
        # own) never read heavily.
        self._heavy_pool = _Pool(
            url,
            "takeover-heavy",
            min_size=0,
            max_size=heavy_size or settings.heavy_read_pool_size,
            statement_timeout=settings.heavy_read_timeout_seconds,
        )

    def call(
        self, function: str, arguments: Arguments, options: CallOptions = ONCE
    ) -> dict[str, Any]:
        arguments = with_idempotency(arguments, options.idempotency)
        pool = self._heavy_pool if options.heavy else self._pool
        statement = _statement(function, tuple(arguments), pool.timeout_ms)
        values = tuple(arguments.values())
        with self._answering(f"takeover_{function}"):
            row = self._run_alive(pool, statement, values, options.retry_safe)
        assert row is not None
        return answer(None if row[0] is None else json.loads(row[0]))

    @contextmanager
    def _answering(self, statement: str) -> Iterator[None]:
        """What a failure of `statement` means for the caller: an outage (503), the
        operator's to fix (500 server_misconfigured), or the caller's value (422)."""
        try:
            yield
        except _DeadConnection as dead:
            raise database_unavailable() from dead.error
        except (psycopg_pool.PoolTimeout, psycopg.OperationalError) as error:
            # Includes QueryCanceled: the statement_timeout (a held lock, a slow server), and
            # a class whose every connection stayed busy while the call waited for one.
            raise self._unreachable() from error
        except _MISCONFIGURED as error:
            # A migration not applied, or a role without the grant: the operator's to fix.
            diagnostic = error.diag.message_primary or str(error)
            raise _misconfigured(
                f"Postgres answered {statement} with {error.sqlstate}: {diagnostic}"
            ) from error
        except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as error:
            # The edge validates first; this guards what slips past it (say, a domain check).
            raise invalid_value() from error

    def _run_alive(
        self, pool: _Pool, statement: bytes, values: tuple[object, ...], retry_safe: bool
    ) -> Any:
        """_run, sent again when its connection was dead and sending it again is safe."""
        retries = _DEAD_CONNECTION_RETRIES
        unsent = _DEAD_IDLE_RETRIES
        while True:
            try:
                return self._run(pool, statement, values)
            except _DeadConnection as dead:
                if dead.maybe_applied and not retry_safe:
                    # It may have been applied before the connection died: the caller
                    # retries it with what makes a retry safe (a key, a message_id).
                    raise
                if dead.maybe_applied or not unsent:
                    if not retries:
                        raise
                    retries -= 1
                else:
                    unsent -= 1
                # A killed backend, a restarted pooler: the other idle connections most
                # likely died with it. Drop them all now (one empty query each, only on
                # this rare path), so the retry and the next callers get live ones.
                pool.connections.check()

    def _run(self, pool: _Pool, statement: bytes, values: tuple[object, ...]) -> Any:
        """One call on a pooled connection: its one row. _DeadConnection when the
        connection turned out dead: found closed before sending (a local poll, no round
        trip), or broken under the call."""
        with pool.connections.connection() as connection:
            if connection.died_idle():
                # Found dead before anything was sent: any call may go again.
                connection.pgconn.finish()  # so the pool discards it
                error = psycopg.OperationalError("the pooled connection had been closed")
                raise _DeadConnection(error, maybe_applied=False)
            cursor = connection.calls()
            try:
                cursor.execute(statement, values)
                cursor.nextset()  # past `set local`'s empty result
                return cursor.fetchone()
            except psycopg.OperationalError as error:
                # A statement_timeout (QueryCanceled) leaves the connection fine; a guard
                # timeout abandons a live one. Only a connection broken under the call is
                # dead: the pool discards it when the block ends.
                if connection.broken and not connection.abandoned:
                    applied = _maybe_applied(error, cursor)
                    raise _DeadConnection(error, maybe_applied=applied) from error
                raise

    @contextmanager
    def stream(
        self, function: str, arguments: Arguments, *, fetch_rows: int
    ) -> Iterator[Iterator[tuple[Any, ...]]]:
        """The rows of the set-returning `public.takeover_<function>`, fetched `fetch_rows`
        at a time through a server-side cursor, in one transaction on a heavy connection.
        No session state: it works through a transaction-mode pooler."""
        pool = self._heavy_pool
        call = sql.SQL("select * from {}({})").format(
            sql.Identifier("public", f"takeover_{function}"), _named(tuple(arguments))
        )
        with (
            self._answering(f"takeover_{function}"),
            pool.connections.connection() as connection,
            connection.transaction(),
        ):
            connection.execute(
                sql.SQL("set local statement_timeout = {}").format(sql.Literal(pool.timeout_ms))
            )
            with connection.cursor(name=f"takeover_{function}") as cursor:
                cursor.itersize = fetch_rows
                cursor.execute(call, tuple(arguments.values()))
                yield iter(cursor)

    def ping(self) -> None:
        with self._answering("select 1"):
            self._run_alive(self._pool, b"select 1", (), retry_safe=True)

    def _unreachable(self) -> ApiError:
        """No answer from the database: 503, unless its server said the database does not
        exist (a wrong DATABASE_URL, or one not created yet)."""
        missing = _missing_databases.get(self._url)
        if missing is None:
            return database_unavailable()
        return _misconfigured(
            f'the server of DATABASE_URL has no database "{missing}": create it and apply the'
            " migrations (python -m functions.migrations), or correct DATABASE_URL"
        )

    def close(self) -> None:
        self._pool.connections.close()
        self._heavy_pool.connections.close()
