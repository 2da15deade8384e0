"""Databases made and dropped on a Postgres server, for the tests and the benchmarks (no
pytest here: the benchmarks import it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo


def database_url(server_url: str, name: str) -> str:
    return make_conninfo(server_url, dbname=name)


def server_connection(server_url: str) -> psycopg.Connection[Any]:
    """A connection that creates and drops databases (autocommit: they refuse a
    transaction)."""
    return psycopg.connect(server_url, autocommit=True)


@contextmanager
def fresh_database(server_url: str, prefix: str, template: str | None = None) -> Iterator[str]:
    """A new database, empty or a copy of `template`, dropped on leaving: its URL."""
    name = f"{prefix}_{uuid4().hex[:16]}"
    create = sql.SQL("create database {}").format(sql.Identifier(name))
    if template is not None:
        create = sql.SQL("create database {} template {}").format(
            sql.Identifier(name), sql.Identifier(template)
        )
    with server_connection(server_url) as connection:
        connection.execute(create)
    try:
        yield database_url(server_url, name)
    finally:
        with server_connection(server_url) as connection:
            connection.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
