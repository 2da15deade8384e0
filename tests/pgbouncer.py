"""Debian's PgBouncer in transaction mode, as a throwaway: its own config file, port and
temp dir, in front of a Postgres the tests already use; the machine's Postgres is never
reconfigured.

    python -m tests.pgbouncer DIR [HOST] [PORT]   writes DIR/pgbouncer.ini, prints the port
                                                  (what .ci/run's pooler leg starts)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.processes import NotListening, free_port, stop, wait_until_listening

BINARY = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
# PgBouncer refuses to run as root; as root it is started as this user (-u), or as the
# owner of the server's socket directory (the embedded Postgres runs as `pgserver`).
RUN_AS = "postgres"


def _user_for(host: str) -> str:
    return Path(host).owner() if host.startswith("/") else RUN_AS


def available() -> bool:
    return os.access(BINARY, os.X_OK)


def require() -> None:
    """Skip the test where pgbouncer is not installed; fail it where REQUIRE_PGBOUNCER=1 (CI)."""
    if available():
        return
    if os.environ.get("REQUIRE_PGBOUNCER") == "1":
        pytest.fail("REQUIRE_PGBOUNCER=1 but pgbouncer is not installed")
    pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")


def target_of(server_url: str) -> tuple[str, int]:
    """The host (or socket directory) and port of a libpq URL or key=value string."""
    parts = conninfo_to_dict(server_url)
    return str(parts.get("host") or "127.0.0.1"), int(parts.get("port") or 5432)


def write_config(directory: Path, host: str = "127.0.0.1", port: int = 5432) -> int:
    """A transaction-mode PgBouncer for every database of host:port (a wildcard entry, so
    each test's fresh database is known); the port it will listen on."""
    listen = free_port()
    (directory / "users.txt").write_text('"postgres" ""\n')
    (directory / "pgbouncer.ini").write_text(
        f"""[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {directory}/users.txt
pool_mode = transaction
max_client_conn = 2000
; Small and short-lived: each test has its own database (its own pool), and the server's
; connections are shared with every other test run on the machine.
default_pool_size = 8
max_user_connections = 24
server_idle_timeout = 2
server_reset_query =
logfile = {directory}/pgbouncer.log
pidfile = {directory}/pgbouncer.pid
"""
    )
    if os.geteuid() == 0:
        user = _user_for(host)
        shutil.chown(directory, user)
        for path in directory.iterdir():
            shutil.chown(path, user)
    return listen


def command(directory: Path, host: str = "127.0.0.1") -> list[str]:
    ini = str(directory / "pgbouncer.ini")
    return [BINARY, "-u", _user_for(host), ini] if os.geteuid() == 0 else [BINARY, ini]


@dataclass(frozen=True)
class Pooler:
    url: str  # the same user and database as the server URL it fronts
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def running(server_url: str) -> Iterator[Pooler]:
    """A PgBouncer in front of server_url's server, for as long as the block runs."""
    host, port = target_of(server_url)
    with tempfile.TemporaryDirectory(prefix="pgbouncer-") as name:
        directory = Path(name)
        listen = write_config(directory, host, port)
        process = subprocess.Popen(command(directory, host), stdout=subprocess.DEVNULL)
        try:
            _wait_for(listen, process, directory)
            database = conninfo_to_dict(server_url).get("dbname") or "postgres"
            yield Pooler(f"postgresql://postgres@127.0.0.1:{listen}/{database}", process)
        finally:
            stop(process)


def _wait_for(port: int, process: subprocess.Popen[bytes], directory: Path) -> None:
    try:
        wait_until_listening(port, process, 10)
    except NotListening as error:
        log = directory / "pgbouncer.log"
        written = log.read_text() if log.exists() else ""
        raise RuntimeError(f"pgbouncer {error}: {written}") from error


if __name__ == "__main__":
    target_host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    target_port = int(sys.argv[3]) if len(sys.argv) > 3 else 5432
    print(write_config(Path(sys.argv[1]), target_host, target_port))
