"""`make run`'s start (functions/local/server.py _prepare_database): migrations over the
direct connection when DATABASE_URL is a pooler, and the demo workspace only where it
belongs: the embedded database, or a database whose operator asked (TAKEOVER_SEED_DEMO=1);
never a real database by surprise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from functions.local import embedded, server
from tests.conftest import SetEnv
from tests.databases import database_url

DATABASE_VARIABLES = ("DATABASE_URL", "DATABASE_DIRECT_URL", "SUPABASE_URL", "TAKEOVER_SEED_DEMO")


@pytest.fixture
def env(setenv: SetEnv) -> Callable[..., None]:
    """Sets the database variables given, and unsets the others."""

    def set_variables(**variables: str) -> None:
        setenv(**(dict.fromkeys(DATABASE_VARIABLES) | variables))

    return set_variables


def workspaces(url: str) -> list[Any]:
    with psycopg.connect(url) as connection:
        return connection.execute("select name from public.workspaces order by name").fetchall()


def migrated(url: str) -> bool:
    with psycopg.connect(url) as connection:
        row = connection.execute("select to_regclass('public.ai_pause_logs') is not null")
        found = row.fetchone()
    return bool(found and found[0])


@pytest.mark.parametrize(
    ("seed_demo", "workspace_count"),
    [
        pytest.param({}, 0, id="unset-not-seeded"),
        pytest.param({"TAKEOVER_SEED_DEMO": "1"}, 2, id="1-seeded"),
        pytest.param({"TAKEOVER_SEED_DEMO": "0"}, 0, id="0-not-seeded"),
    ],
)
def test_a_database_url_is_migrated_and_seeded_only_if_takeover_seed_demo_says_1(
    new_database: Callable[[], str],
    env: Callable[..., None],
    seed_demo: dict[str, str],
    workspace_count: int,
) -> None:
    url = new_database()
    env(DATABASE_URL=url, **seed_demo)

    assert server._prepare_database() == url
    server._prepare_database()  # a restart seeds nothing twice

    assert migrated(url)
    assert len(workspaces(url)) == workspace_count


def test_the_embedded_database_is_seeded(
    new_database: Callable[[], str], env: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = new_database()
    env()
    monkeypatch.setattr(embedded, "start", lambda name="postgres": url)

    assert server._prepare_database() == url

    assert len(workspaces(url)) == 2


def test_migrations_go_to_the_direct_url_when_database_url_is_a_pooler(
    new_database: Callable[[], str], env: Callable[..., None]
) -> None:
    """DATABASE_URL is where the functions go (here: nothing listens, as if the pooler were
    down); migrations and the seed need a session, so they use DATABASE_DIRECT_URL."""
    direct = new_database()
    pooler = "postgresql://postgres@127.0.0.1:1/postgres"
    env(DATABASE_URL=pooler, DATABASE_DIRECT_URL=direct, TAKEOVER_SEED_DEMO="1")

    assert server._prepare_database() == pooler

    assert migrated(direct)
    assert len(workspaces(direct)) == 2


@pytest.mark.parametrize("variable", ["DATABASE_URL", "DATABASE_DIRECT_URL"])
def test_a_database_that_does_not_exist_stops_make_run_with_one_line_naming_it(
    server_url: str, env: Callable[..., None], variable: str
) -> None:
    name = f"takeover_absent_{uuid4().hex[:8]}"
    absent = database_url(server_url, name)
    env(**{"DATABASE_URL": absent, variable: absent})

    with pytest.raises(SystemExit) as stopped:
        server._prepare_database()

    assert str(stopped.value) == (
        f'make run: {variable}: The database "{name}" does not exist on that server: create'
        f' it first (createdb {name}, or `create database "{name}"`), then run this again.'
    )
