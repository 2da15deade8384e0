"""A real Postgres for every test: a template database built once per session (migrations
and the demo seed), and a fresh copy of it per test."""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Protocol
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql

from functions import migrations
from functions.database.instance import use_database
from functions.database.postgres import PostgresDatabase
from functions.export import object_storage
from functions.local import demo, embedded
from functions.shared import logs
from functions.shared.config import config
from tests import deployed
from tests.databases import database_url, fresh_database, server_connection
from tests.support import JWT_SECRET, Api


@pytest.fixture(scope="session", autouse=True)
def environment() -> Iterator[None]:
    saved = dict(os.environ)
    os.environ["SUPABASE_JWT_SECRET"] = JWT_SECRET
    os.environ.pop("SUPABASE_JWKS_URL", None)
    os.environ.pop("SUPABASE_URL", None)
    # Webhook receivers in tests listen on loopback; an explicit 0 is respected.
    os.environ.setdefault("WEBHOOKS_ALLOW_PRIVATE_URLS", "1")
    config.cache_clear()
    yield
    os.environ.clear()
    os.environ.update(saved)
    config.cache_clear()


@pytest.fixture(scope="session", autouse=True)
def logs_reach_caplog() -> None:
    """Our loggers keep off the root logger in production (functions/shared/logs.py); here
    their records reach it too, where caplog reads them."""
    logging.getLogger(logs.ROOT_LOGGER).propagate = True


@pytest.fixture(scope="session")
def server_url() -> str:
    """The server the tests create their databases on, directly: DATABASE_DIRECT_URL or
    DATABASE_URL (CI: the system Postgres 15), else the embedded one."""
    return (
        os.environ.get("DATABASE_DIRECT_URL")
        or os.environ.get("DATABASE_URL")
        or embedded.start("test")
    )


@pytest.fixture(scope="session")
def functions_server_url(server_url: str) -> str:
    """Where the functions reach that server: DATABASE_URL when DATABASE_DIRECT_URL is also
    set (CI's pooler leg: PgBouncer in transaction mode in front of it), else directly."""
    if os.environ.get("DATABASE_DIRECT_URL") and os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    return server_url


@pytest.fixture(scope="session")
def template(server_url: str) -> Iterator[str]:
    name = f"takeover_template_{os.getpid()}"
    with server_connection(server_url) as admin:
        admin.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(name)))
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = database_url(server_url, name)
    migrations.apply(url)
    demo.seed_if_empty(url)
    yield name
    with server_connection(server_url) as admin:
        admin.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


class _Reaper:
    """Drops finished tests' databases on a thread of its own: a drop costs more than a
    copy, and no test needs to wait for it."""

    def __init__(self, server_url: str) -> None:
        self._server_url = server_url
        self._names: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="db-reaper", daemon=True)
        self._thread.start()

    def drop(self, name: str) -> None:
        self._names.put(name)

    def close(self) -> None:
        self._names.put(None)
        self._thread.join(timeout=120)

    def _run(self) -> None:
        with server_connection(self._server_url) as admin:
            while (name := self._names.get()) is not None:
                admin.execute(
                    sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
                )


@pytest.fixture(scope="session")
def reaper(server_url: str) -> Iterator[_Reaper]:
    reaper = _Reaper(server_url)
    yield reaper
    reaper.close()


@pytest.fixture
def db_name(server_url: str, template: str, reaper: _Reaper) -> Iterator[str]:
    """A fresh database for this test, copied from the template."""
    name = f"takeover_test_{uuid4().hex[:16]}"
    with server_connection(server_url) as admin:
        admin.execute(
            sql.SQL("create database {} template {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    yield name
    reaper.drop(name)


@pytest.fixture
def db_url(functions_server_url: str, db_name: str) -> str:
    """The test's database as the functions reach it (through the pooler, when one is)."""
    return database_url(functions_server_url, db_name)


@pytest.fixture
def db(server_url: str, db_name: str) -> Iterator[psycopg.Connection[Any]]:
    """The test's database as its owner, directly, to set the scene and read the rows."""
    with psycopg.connect(database_url(server_url, db_name), autocommit=True) as connection:
        yield connection


@contextmanager
def functions_on(url: str, **pool_args: Any) -> Iterator[Api]:
    """The functions, loaded by functions-framework, on the database at `url` (through an
    adapter made with `pool_args`) until the block ends."""
    database = PostgresDatabase(url, **pool_args)
    previous = use_database(database)
    try:
        yield Api(JWT_SECRET)
    finally:
        use_database(previous)
        database.close()


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    """The functions, loaded by functions-framework, on the test's database."""
    with functions_on(db_url, max_size=24) as functions:
        yield functions


class SetEnv(Protocol):
    def __call__(self, **variables: str | None) -> None: ...


@pytest.fixture
def setenv(monkeypatch: pytest.MonkeyPatch) -> Iterator[SetEnv]:
    """Sets environment variables (None: unsets one) for the rest of the test, and the
    configuration is read again. At the end, monkeypatch's changes are undone and only then
    the configuration cleared: nothing can cache the test's values in between."""

    def set_variables(**variables: str | None) -> None:
        for name, value in variables.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        config.cache_clear()

    yield set_variables
    monkeypatch.undo()
    config.cache_clear()


@pytest.fixture
def new_database(server_url: str) -> Iterator[Callable[[], str]]:
    """Empty databases (no migrations, no seed), each made when asked for, dropped after the
    test."""
    with ExitStack() as made:
        yield lambda: made.enter_context(fresh_database(server_url, "takeover_empty"))


@pytest.fixture(scope="session")
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


# What each platform builds from the committed tree (tests/deployed.py): built once a session.


@pytest.fixture(scope="session")
def venv() -> Path:
    return deployed.requirements_venv()


@pytest.fixture(scope="session")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone's files: where an operator runs the migration command."""
    return deployed.copy(deployed.tracked_files(), tmp_path_factory.mktemp("checkout"))


@pytest.fixture(scope="session")
def upload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `gcloud functions deploy --source .` uploads: the tracked files .gcloudignore
    lets through."""
    files = deployed.without_ignored(deployed.tracked_files(), ".gcloudignore")
    return deployed.copy(files, tmp_path_factory.mktemp("upload"))


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory, venv: Path) -> deployed.Image:
    context = deployed.without_ignored(deployed.tracked_files(), ".dockerignore")
    return deployed.build_image(context, tmp_path_factory.mktemp("image"), venv)


# A local S3: moto in server mode, real HTTP on 127.0.0.1 (the audit export's storage).


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    # Imported here: moto and boto3 cost every test worker's start what only a few use.
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> Iterator[dict[str, str]]:
    """A fresh bucket and the variables that point the export at it."""
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": moto_url,
        "AUDIT_EXPORT_BUCKET": f"audit-{uuid4().hex[:12]}",
    }
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AUDIT_EXPORT_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config.cache_clear()
    object_storage.forget_clients()
    yield env
    config.cache_clear()
    object_storage.forget_clients()


def s3_client(env: dict[str, str]) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


@pytest.fixture
def bucket(s3_env: dict[str, str]) -> dict[str, str]:
    """The bucket, created: the variables that point the export at it."""
    s3_client(s3_env).create_bucket(Bucket=s3_env["AUDIT_EXPORT_BUCKET"])
    return s3_env
