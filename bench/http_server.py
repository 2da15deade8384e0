"""The served functions for the HTTP measurement, in their own process:

    python -m bench.http_server <database url> <port file>

create_app() (what `make run` serves) with one extra route, POST /bench/noop, that answers
a constant without touching anything: the baseline. Served by werkzeug's threaded
make_server on 127.0.0.1, as `make run` does, but speaking HTTP/1.1 so clients keep their
connections alive. It writes its port to <port file> and serves until stdin closes.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from flask import Response
from werkzeug.serving import WSGIRequestHandler, make_server

from bench.harness import serve_until_stdin_closes
from functions.database.instance import use_database
from functions.database.postgres import PostgresDatabase
from functions.edge.http import json_response
from functions.local.server import create_app
from functions.shared.config import LOCAL_JWT_SECRET, config

NOOP_PATH = "/bench/noop"


class KeepAliveHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"


class QuietKeepAliveHandler(KeepAliveHandler):
    """Without werkzeug's access log line (one per request, on stderr)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def noop() -> Response:
    return json_response(200, '{"ok":true}')


def main() -> None:
    url, port_file = sys.argv[1], Path(sys.argv[2])
    # BENCH_HTTP_LOGGING: "bench" (the default: Python's logging left unconfigured, so only
    # the request log line and werkzeug's access line are written), "make-run" (configured as
    # `make run` does: INFO on stderr, psycopg.pool's three lines per call included), or
    # "make-run-quiet-pool" (the same with psycopg.pool at WARNING).
    logging_variant = os.environ.get("BENCH_HTTP_LOGGING", "bench")
    if logging_variant != "bench":
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if logging_variant == "make-run-quiet-pool":
        logging.getLogger("psycopg.pool").setLevel(logging.WARNING)
    os.environ.setdefault("SUPABASE_JWT_SECRET", LOCAL_JWT_SECRET)
    config.cache_clear()
    database = PostgresDatabase(url)
    use_database(database)
    app = create_app()
    app.add_url_rule(NOOP_PATH, view_func=noop, methods=["POST"])
    # BENCH_HTTP (the proposals' variants): "keepalive" (the default), "http10" (werkzeug's
    # default handler, as `make run` serves: a connection per request), "quiet" (keep-alive
    # without werkzeug's access log line).
    variant = os.environ.get("BENCH_HTTP", "keepalive")
    handler = {
        "keepalive": KeepAliveHandler,
        "http10": WSGIRequestHandler,
        "quiet": QuietKeepAliveHandler,
    }[variant]
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=handler)
    try:
        serve_until_stdin_closes(server, server.server_port, port_file)
    finally:
        database.close()


if __name__ == "__main__":
    main()
