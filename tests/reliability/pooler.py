"""A PgBouncer in transaction mode that the harness may stop and start again on the same
port (tests/pgbouncer.py writes its config), in front of a Postgres it may also restart."""

from __future__ import annotations

import subprocess

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests import pgbouncer, processes

# PgBouncer waits server_login_retry (15 s) after a failed login to the server before it
# tries again: a Postgres restart would keep it failing that long after the server is
# back. The soak wants the recovery the functions make, not PgBouncer's back-off.
_LOGIN_RETRY_SECONDS = 1


class Bouncer(processes.OwnedProcess):
    """PgBouncer in front of `server_url`'s server; `url(database)` reaches a database
    through it. Stopping it is a SIGTERM: PgBouncer closes every client and server connection
    and exits."""

    def __init__(self, server_url: str) -> None:
        super().__init__("pgbouncer-")
        self._host, port = pgbouncer.target_of(server_url)
        self.port = pgbouncer.write_config(self.directory, self._host, port)
        ini = self.directory / "pgbouncer.ini"
        ini.write_text(
            ini.read_text().replace(
                "[pgbouncer]\n", f"[pgbouncer]\nserver_login_retry = {_LOGIN_RETRY_SECONDS}\n"
            )
        )

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

    def restart(self) -> None:
        self.stop()
        self.start()

    def ensure_up(self) -> None:
        if not self.alive():
            self.start()
