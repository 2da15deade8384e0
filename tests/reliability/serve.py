"""The function process under test: create_app() served by werkzeug, threaded, on 127.0.0.1
and a free port, on DATABASE_URL. It stays up through every database fault.

    python -m tests.reliability.serve PORT_FILE

Writes the port it listens on to PORT_FILE; stops on SIGTERM. The request log lines go to
stdout, as in production.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from werkzeug.serving import make_server

from functions.database.instance import use_database
from functions.database.postgres import PostgresDatabase
from functions.local.server import create_app
from functions.shared.config import config


def main(port_file: Path) -> None:
    # werkzeug's own access log (stderr) would double the request log; warnings still show.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    url = config().database_url
    if url is None:
        raise SystemExit("DATABASE_URL is not set")
    database = PostgresDatabase(url)
    use_database(database)
    server = make_server("127.0.0.1", 0, create_app(), threaded=True)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    port_file.write_text(str(server.port))
    try:
        server.serve_forever()
    finally:
        server.server_close()
        database.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
