"""A webhook receiver for the benchmark, in its own process (so it does not share the
dispatcher's interpreter lock):

    python -m bench.webhook_receiver <port file>

HTTP/1.1 keep-alive on 127.0.0.1, answering every POST 204 at once. It writes its port to
<port file> and serves until stdin closes.
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.harness import serve_until_stdin_closes


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response_only(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    port_file = Path(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    serve_until_stdin_closes(server, server.server_address[1], port_file)


if __name__ == "__main__":
    main()
