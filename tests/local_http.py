"""HTTP servers the tests stand up in threads on 127.0.0.1: webhook receivers, proxies that
lose or refuse on purpose, a JWKS endpoint, servers that misbehave, and WSGI apps (the local
server)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from werkzeug.serving import make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


class Quiet:
    """Mixed in before BaseHTTPRequestHandler: logs nothing, as a test asserts on the requests
    it cares about."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LocalServer:
    """`handler` on a free port of 127.0.0.1, each request in a daemon thread, until closed."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # Polled every 50 ms, so that closing it takes no longer than that.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def serving(app: WSGIApplication) -> Iterator[str]:
    """`app` on a free port of 127.0.0.1, each request in a thread of its own, until the
    block ends: its URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
