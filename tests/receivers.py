"""Real HTTP webhook receivers on loopback, for tests and benchmarks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.local_http import LocalServer, Quiet


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    url: str
    received: list[Received] = field(default_factory=list)
    # What to answer: a status code, or a callable deciding from the delivery.
    status: int | Callable[[Received], int] = 204
    location: str | None = None
    # While set to an Event, every request is taken and held, unanswered, until it is set.
    hang: threading.Event | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ids(self) -> list[str]:
        with self.lock:
            return [r.headers["webhook-id"] for r in self.received]

    def wait_for(self, count: int, seconds: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.01)
        with self.lock:
            return list(self.received)


def _handler(receiver_box: list[Receiver]) -> type[BaseHTTPRequestHandler]:
    class Handler(Quiet, BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

        def do_POST(self) -> None:
            receiver = receiver_box[0]
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            delivery = Received({k.lower(): v for k, v in self.headers.items()}, body, time.time())
            with receiver.lock:
                receiver.received.append(delivery)
            hang = receiver.hang
            if hang is not None:
                hang.wait(30)
                self.close_connection = True  # hang up without an answer
                return
            status = receiver.status(delivery) if callable(receiver.status) else receiver.status
            self.send_response(status)
            if receiver.location:
                self.send_header("Location", receiver.location)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


@contextmanager
def receiver(**options: Any) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 on a free port, served by threads, until the block ends."""
    box: list[Receiver] = []
    server = LocalServer(_handler(box))
    box.append(Receiver(url=f"{server.url}/hook", **options))
    try:
        yield box[0]
    finally:
        if box[0].hang is not None:
            box[0].hang.set()
        server.close()
