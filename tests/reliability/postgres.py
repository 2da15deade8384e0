"""The harness's own embedded Postgres (functions.embedded, under .data/<name>), which it may
stop, start and cut connections of while the functions serve.

pgserver starts the server with `pg_ctl`, listening on a Unix socket only (`-h "" -k
<pgdata>`), as the `pgserver` system user when we are root; stop and start do the same.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from functions import migrations
from functions.local import demo, embedded

PG_CTL_TIMEOUT_SECONDS = 30


class EmbeddedPostgres:
    """One embedded server and the throwaway databases made on it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pgdata = embedded.DATA_DIR / name
        self.server_url = embedded.start(name)
        self._socket_dir = str(conninfo_to_dict(self.server_url)["host"])
        self._log = self.pgdata / "log"

    # Databases -----------------------------------------------------------------------------

    def create_database(self) -> str:
        """A new database with the migrations and the demo seed; its URL."""
        name = f"reliability_{uuid4().hex[:12]}"
        with self._admin() as admin:
            admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        url = make_conninfo(self.server_url, dbname=name)
        migrations.apply(url)
        demo.seed_if_empty(url)
        return url

    def drop_database(self, url: str) -> None:
        name = str(conninfo_to_dict(url)["dbname"])
        with self._admin() as admin:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )

    def _admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.server_url, autocommit=True, connect_timeout=10)

    # Faults ----------------------------------------------------------------------------------

    def terminate_backends(self, url: str) -> int:
        """Kill every other connection to the database of `url`; how many were killed."""
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
            row = connection.execute(
                "select count(*) filter (where pg_terminate_backend(pid))"
                " from pg_stat_activity"
                " where datname = current_database() and pid <> pg_backend_pid()"
            ).fetchone()
        return int(row[0]) if row else 0

    def stop(self) -> None:
        """`pg_ctl stop -m fast`: every session is cut, the server is gone until start()."""
        self._pg_ctl("-m", "fast", "-w", "-t", str(PG_CTL_TIMEOUT_SECONDS), "stop")

    def start(self) -> None:
        """`pg_ctl start` on the same data directory and socket, as pgserver does."""
        self._pg_ctl(
            "-w",
            "-t",
            str(PG_CTL_TIMEOUT_SECONDS),
            "-l",
            str(self._log),
            "-o",
            f'-h "" -k {self._socket_dir}',
            "start",
        )
        self._refresh_handle()

    def is_up(self) -> bool:
        try:
            with psycopg.connect(self.server_url, connect_timeout=2) as connection:
                connection.execute("select 1")
        except psycopg.OperationalError:
            return False
        return True

    def ensure_up(self) -> None:
        """Start the server again if a fault left it stopped (say, an interrupted run)."""
        if not self.is_up():
            self.start()

    def _pg_ctl(self, *arguments: str) -> None:
        from pgserver._commands import POSTGRES_BIN_PATH

        command = [str(Path(POSTGRES_BIN_PATH) / "pg_ctl"), "-D", str(self.pgdata), *arguments]
        # pg_ctl refuses to run as root: pgserver runs the server as its own system user.
        user = "pgserver" if os.geteuid() == 0 else None
        subprocess.run(
            command,
            check=True,
            user=user,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=PG_CTL_TIMEOUT_SECONDS + 5,
        )

    def _refresh_handle(self) -> None:
        """pgserver stops the server it started when the last process using it exits, by
        the postmaster's pid: tell it about the new postmaster so it still does."""
        from pgserver.postgres_server import get_server
        from pgserver.utils import PostmasterInfo

        handle = get_server(self.pgdata, cleanup_mode="stop")
        for _ in range(50):
            info = PostmasterInfo.read_from_pgdata(self.pgdata)
            if info is not None and info.is_running() and info.status == "ready":
                handle._postmaster_info = info
                return
            time.sleep(0.1)


def add_conversations(url: str, count: int, workspace_id: UUID = demo.WORKSPACE_ID) -> list[UUID]:
    """`count` new conversations in the demo workspace, spread over its teams and none."""
    teams: list[UUID | None] = [demo.SALES_TEAM_ID, demo.SUPPORT_TEAM_ID, None]
    rows = [(uuid4(), workspace_id, teams[index % len(teams)]) for index in range(count)]
    with psycopg.connect(url, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.executemany(
            "insert into public.conversations (id, workspace_id, team_id) values (%s, %s, %s)",
            rows,
        )
    return [row[0] for row in rows]
