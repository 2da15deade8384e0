"""How the dispatcher connects: to the addresses url_policy checked, within one deadline per
attempt.

httpx's timeouts are per operation, so a peer sending a byte at a time would never reach
them: `deadline()` bounds everything an attempt does (name resolution, connecting, TLS,
sending, the status line) as a whole.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from functions.shared.config import config
from functions.webhooks.url_policy import allowed_addresses, resolve

# The response body is read (so the connection can be kept) up to this much, within the
# attempt's deadline; the status line alone decides the outcome.
_MAX_BODY_BYTES = 64 * 1024

_attempt = threading.local()  # .deadline: time.monotonic() by which the attempt ends


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every network operation of this thread, until the block ends, finishes by then."""
    _attempt.deadline = time.monotonic() + seconds
    try:
        yield
    finally:
        _attempt.deadline = None


def _within(timeout: float | None, expired: type[Exception]) -> float | None:
    """The time an operation may take: its own timeout, but no later than the deadline."""
    ends: float | None = getattr(_attempt, "deadline", None)
    if ends is None:
        return timeout
    left = ends - time.monotonic()
    if left <= 0:
        raise expired("the attempt's deadline passed")
    return left if timeout is None else min(timeout, left)


@contextmanager
def _mapped(timed_out: type[Exception], failed: type[Exception]) -> Iterator[None]:
    try:
        yield
    except TimeoutError as error:  # socket.timeout, and ssl's
        raise timed_out(str(error)) from error
    except OSError as error:  # ssl.SSLError too
        raise failed(str(error)) from error


class _Stream(httpcore.NetworkStream):
    """A socket whose every read, write and handshake ends by the attempt's deadline (an
    SSL socket's timeout bounds a whole read or handshake, not each piece of it)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _mapped(httpcore.ReadTimeout, httpcore.ReadError):
            self._sock.settimeout(_within(timeout, httpcore.ReadTimeout))
            return self._sock.recv(max_bytes)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        with _mapped(httpcore.WriteTimeout, httpcore.WriteError):
            while buffer:
                self._sock.settimeout(_within(timeout, httpcore.WriteTimeout))
                sent = self._sock.send(buffer)
                buffer = buffer[sent:]

    def close(self) -> None:
        self._sock.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        try:
            with _mapped(httpcore.ConnectTimeout, httpcore.ConnectError):
                self._sock.settimeout(_within(timeout, httpcore.ConnectTimeout))
                # SNI and the certificate check use the URL's name, not the address.
                tls = ssl_context.wrap_socket(self._sock, server_hostname=server_hostname)
        except Exception:
            self._sock.close()
            raise
        return _Stream(tls)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._sock if isinstance(self._sock, ssl.SSLSocket) else None
        if info == "socket":
            return self._sock
        if info == "client_addr":
            return self._sock.getsockname()
        if info == "server_addr":
            return self._sock.getpeername()
        if info == "is_readable":
            # An idle kept-alive connection that is readable was closed by the server.
            if self._sock.fileno() < 0:
                return True
            return bool(select.select([self._sock], [], [], 0)[0])
        return None


class _PinnedBackend(httpcore.NetworkBackend):
    """Resolves the host once, checks the addresses (unless private ones are allowed) and
    connects to those addresses: what was checked is what is reached."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        lookup = _within(timeout, httpcore.ConnectTimeout)
        if config().webhooks_allow_private_urls:
            addresses = resolve(host, port, lookup)
        else:
            addresses = allowed_addresses(host, port, lookup)
        failure: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            try:
                with _mapped(httpcore.ConnectTimeout, httpcore.ConnectError):
                    sock = socket.create_connection(
                        (address, port), timeout=_within(timeout, httpcore.ConnectTimeout)
                    )
            except (httpcore.ConnectTimeout, httpcore.ConnectError) as error:
                failure = error
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return _Stream(sock)
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        raise httpcore.UnsupportedProtocol("webhooks are sent over TCP")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _PinnedTransport(httpx.HTTPTransport):
    """httpx's transport over _PinnedBackend; redirects and proxies are never used."""

    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_PinnedBackend(),
        )


def new_client(timeout: float) -> httpx.Client:
    """An endpoint's client: its own few kept-alive connections, no redirects, no proxy."""
    return httpx.Client(
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        transport=_PinnedTransport(httpx.Limits(max_connections=4, max_keepalive_connections=2)),
    )


def drain(response: httpx.Response) -> None:
    """Read a little of the body, so a short answer leaves the connection reusable."""
    read = 0
    try:
        for chunk in response.iter_raw():
            read += len(chunk)
            if read > _MAX_BODY_BYTES:
                return
    except httpx.HTTPError:
        pass  # the status line has arrived: it decides
