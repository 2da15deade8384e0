"""A webhook receiver for the benchmark, in its own process (so it does not share the
dispatcher's interpreter lock):

    python -m bench.webhook_receiver <port file>

HTTP/1.1 keep-alive on 127.0.0.1, answering every POST 204 at once. It writes its port to
<port file> and serves until stdin closes.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


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
    temporary = port_file.with_suffix(".tmp")
    temporary.write_text(str(server.server_address[1]))
    temporary.replace(port_file)
    threading.Thread(target=_stop_on_eof, args=(server,), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


def _stop_on_eof(server: ThreadingHTTPServer) -> None:
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
