"""A PgBouncer in transaction mode that the harness may stop and start again on the same
port (tests/pgbouncer.py writes its config), in front of a Postgres it may also restart."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests import pgbouncer, processes

# PgBouncer waits server_login_retry (15 s) after a failed login to the server before it
# tries again: a Postgres restart would keep it failing that long after the server is
# back. The soak wants the recovery the functions make, not PgBouncer's back-off.
_LOGIN_RETRY_SECONDS = 1


class Bouncer:
    """PgBouncer in front of `server_url`'s server; `url(database)` reaches a database
    through it."""

    def __init__(self, server_url: str) -> None:
        self._host, port = pgbouncer.target_of(server_url)
        self._directory = tempfile.TemporaryDirectory(prefix="pgbouncer-")
        self.directory = Path(self._directory.name)
        self.port = pgbouncer.write_config(self.directory, self._host, port)
        ini = self.directory / "pgbouncer.ini"
        ini.write_text(
            ini.read_text().replace(
                "[pgbouncer]\n", f"[pgbouncer]\nserver_login_retry = {_LOGIN_RETRY_SECONDS}\n"
            )
        )
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database_url: str) -> str:
        """The same database and user as `database_url`, through this PgBouncer."""
        name = conninfo_to_dict(database_url).get("dbname") or "postgres"
        return make_conninfo(f"postgresql://postgres@127.0.0.1:{self.port}/", dbname=str(name))

    def start(self) -> None:
        self.process = subprocess.Popen(
            pgbouncer.command(self.directory, self._host),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        pgbouncer._wait_for(self.port, self.process, self.directory)

    def stop(self) -> None:
        """SIGTERM: PgBouncer closes every client and server connection and exits."""
        if self.process is not None and self.process.poll() is None:
            processes.stop(self.process)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def ensure_up(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self.start()

    def __enter__(self) -> Bouncer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        self._directory.cleanup()
