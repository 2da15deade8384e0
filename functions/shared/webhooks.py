"""Webhooks by Standard Webhooks: endpoint URLs we accept, secrets, signatures, and the
dispatcher that sends what the outbox (webhook_deliveries) holds.

The dispatcher leases endpoints (the database hands each endpoint to one dispatcher at a
time, with its due deliveries in log order), sends them on a thread per endpoint so a slow
or dead endpoint never holds up the others, and records each attempt.

Each attempt has one deadline (WEBHOOK_TIMEOUT_SECONDS) for everything it does: name
resolution, connecting, TLS, sending and the status line. Connections go to the very
addresses that were resolved and checked (no second lookup a rebinding DNS could answer
differently).
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import select
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import httpcore
import httpx

from functions.database.interface import Database
from functions.shared.config import config
from functions.shared.errors import Unprocessable

# The event types an endpoint may subscribe to (CONTRACT.md, Webhooks).
EventType = Literal[
    "takeover.pause_activated",
    "takeover.interaction_blocked",
    "takeover.auto_resume",
    "takeover.force_resume",
    "takeover.extend_pause",
    "takeover.pause_expiring",
]
MAX_URL_LENGTH = 2048
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
_SECRET_BYTES = 32
# Deliveries of one endpoint per claim; and how long a claim holds the endpoint, at least.
_PER_ENDPOINT = 250
_MIN_LEASE_SECONDS = 60.0
_LEASE_MARGIN_SECONDS = 5.0
_MAX_CLIENTS = 1000
_WORKERS = 32
# Saving an endpoint resolves its host at most this long.
_SAVE_RESOLVE_SECONDS = 2.0
# The response body is read (so the connection can be kept) up to this much, within the
# attempt's deadline; the status line alone decides the outcome.
_MAX_BODY_BYTES = 64 * 1024

log = logging.getLogger("takeover.webhooks")


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def sign(secret: str, webhook_id: str, timestamp: int, body: str) -> str:
    """The webhook-signature header: `v1,` + base64(HMAC-SHA256(key, id.timestamp.body)),
    the key being the base64 after `whsec_`."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


# ---------------------------------------------------------------------------------------
# Which URLs we send to
# ---------------------------------------------------------------------------------------


class AddressNotAllowed(Exception):
    """The URL's host is, or resolves to, a loopback, private or link-local address."""


class ResolutionTimeout(OSError):
    """The host's name was not resolved in time."""


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address reaches through: mapped (::ffff:a.b.c.d),
    compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d), 6to4 (2002:ab:cd::) and Teredo."""
    embedded = []
    if ip.ipv4_mapped is not None:
        embedded.append(ip.ipv4_mapped)
    if int(ip) >> 32 == 0 or ip in _NAT64:
        embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        embedded.append(ip.sixtofour)
    if ip.teredo is not None:
        embedded.extend(ip.teredo)
    return embedded


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if ip.ipv4_mapped is not None or int(ip) >> 32 == 0:
            # Only the IPv4 address is reached (:: and ::1 unwrap to 0.0.0.0 and 0.0.0.1).
            return any(not v4.is_global for v4 in embedded)
        if ip in _NAT64_LOCAL or any(not v4.is_global for v4 in embedded):
            return True
    # Only globally routable addresses: this refuses loopback, private, link-local, CGNAT,
    # multicast, unspecified and reserved ranges alike.
    return not ip.is_global


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


_resolver = ThreadPoolExecutor(max_workers=8, thread_name_prefix="webhook-dns")


def resolve(host: str, port: int, timeout: float | None) -> list[str]:
    """The addresses of `host`, in the resolver's order, within `timeout` seconds (the
    system resolver itself has no deadline). Unresolvable: socket.gaierror."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    lookup = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = lookup.result(timeout=timeout)
    except FutureTimeout as error:
        raise ResolutionTimeout(host) from error
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def allowed_addresses(host: str, port: int, timeout: float | None) -> list[str]:
    """`host`'s addresses, or AddressNotAllowed unless every one of them is public."""
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        raise AddressNotAllowed(host)
    addresses = resolve(host, port, timeout)
    if any(_forbidden(address) for address in addresses):
        raise AddressNotAllowed(host)
    return addresses


def check_address(host: str, port: int, timeout: float | None = _SAVE_RESOLVE_SECONDS) -> None:
    """Raise AddressNotAllowed unless every address `host` resolves to is public. An
    unresolvable host raises socket.gaierror (ResolutionTimeout when it takes too long)."""
    allowed_addresses(host, port, timeout)


# ---------------------------------------------------------------------------------------
# How we connect: to the checked address, within the attempt's deadline
# ---------------------------------------------------------------------------------------

_attempt = threading.local()  # .deadline: time.monotonic() by which the attempt ends


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Every network operation of this thread, until the block ends, finishes by then."""
    _attempt.deadline = time.monotonic() + seconds
    try:
        yield
    finally:
        _attempt.deadline = None


def _within(timeout: float | None, expired: type[Exception]) -> float | None:
    """The time an operation may take: its own timeout, but no later than the deadline.
    httpx's timeouts are per operation, so a peer sending a byte at a time would never
    reach them; this bounds the attempt as a whole."""
    deadline: float | None = getattr(_attempt, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
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


def validate_url(url: str) -> str:
    """The URL, if we may send to it; else 422 invalid_url."""
    allow_private = config().webhooks_allow_private_urls

    def refuse(why: str) -> Unprocessable:
        return Unprocessable("invalid_url", f"The url {why}.", {"url": url[:200]})

    if len(url) > MAX_URL_LENGTH:
        raise refuse(f"is over {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise refuse("is not a valid URL") from error
    schemes = {"https", "http"} if allow_private else {"https"}
    if parts.scheme not in schemes:
        raise refuse(
            "must start with https:// or http://" if allow_private else "must start with https://"
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise refuse("must not carry credentials")
    host = parts.hostname
    if not host or any(c.isspace() for c in url):
        raise refuse("has no valid host")
    if not allow_private:
        try:
            check_address(host, port or 443)
        except AddressNotAllowed as error:
            raise refuse("points at a loopback, private or link-local address") from error
        except (OSError, UnicodeError):
            pass  # not resolvable now; checked again at every connection
    return url


# ---------------------------------------------------------------------------------------
# The dispatcher
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    delivery_id: int
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def unreachable(self) -> bool:
        """No answer at all: the endpoint's remaining deliveries wait for the next run."""
        return self.status_code is None


@dataclass(frozen=True)
class DispatchResult:
    delivered: int
    failed: int
    unreachable: str | None = None  # the endpoint, when it did not answer


class _Budget:
    """How many more deliveries a run may take, shared by its threads."""

    def __init__(self, limit: int) -> None:
        self._left = limit
        self._lock = threading.Lock()

    def take(self, wanted: int) -> int:
        with self._lock:
            taken = min(wanted, self._left)
            self._left -= taken
            return taken

    def give_back(self, unused: int) -> None:
        with self._lock:
            self._left += unused


@dataclass(frozen=True)
class _Run:
    database: Database
    budget: _Budget
    timeout: float
    lease: float
    per_endpoint: int


class Dispatcher:
    """One per instance: keeps an HTTP client (and its connections) per endpoint."""

    def __init__(self) -> None:
        self._clients: OrderedDict[str, httpx.Client] = OrderedDict()
        self._clients_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="webhook")
        atexit.register(self.close)

    def close(self) -> None:
        """Close every endpoint's connections."""
        with self._clients_lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def run(self, database: Database, limit: int) -> DispatchResult:
        """Send up to `limit` due deliveries. Each leased endpoint is worked on by a thread
        of its own, which keeps the endpoint for its next batch while the budget lasts; an
        endpoint that did not answer gets no second batch from this run."""
        settings = config()
        timeout = settings.webhook_timeout_seconds
        work = _Run(
            database=database,
            budget=_Budget(limit),
            timeout=timeout,
            lease=max(_MIN_LEASE_SECONDS, 6 * timeout),
            per_endpoint=min(limit, _PER_ENDPOINT),
        )
        delivered = failed = 0
        unreachable: list[str] = []
        running: set[Future[DispatchResult]] = set()
        while True:
            claimed: list[dict[str, Any]] = []
            wanted = work.budget.take(limit)
            if wanted:
                started = time.monotonic()
                claimed = database.call(
                    "webhook_claim",
                    {
                        "limit": wanted,
                        "per_endpoint": min(wanted, work.per_endpoint),
                        "lease_seconds": work.lease,
                        "notice_seconds": settings.expiry_notice_minutes * 60,
                        "skip": unreachable,
                    },
                    # A claim whose answer was lost only leases its deliveries until the
                    # lease runs out; nothing is sent twice.
                    retry_safe=True,
                )["endpoints"]
                work.budget.give_back(wanted - sum(len(e["deliveries"]) for e in claimed))
                for endpoint in claimed:
                    running.add(self._pool.submit(self._work, work, endpoint, started))
            if not running:
                break
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                result = future.result()
                delivered += result.delivered
                failed += result.failed
                if result.unreachable is not None:
                    unreachable.append(result.unreachable)
        return DispatchResult(delivered, failed)

    def _work(self, work: _Run, endpoint: dict[str, Any], leased_at: float) -> DispatchResult:
        delivered = failed = 0
        deliveries: list[dict[str, Any]] = endpoint["deliveries"]
        while True:
            # Start no send that could outlast the lease: past it, another dispatcher may
            # take the endpoint.
            send_until = leased_at + work.lease - work.timeout - _LEASE_MARGIN_SECONDS
            attempts = self._send_batch(endpoint, deliveries, work.timeout, send_until)
            stopped = len(attempts) < len(deliveries) or bool(attempts and attempts[-1].unreachable)
            more = 0 if stopped else work.budget.take(work.per_endpoint)
            try:
                leased_at = time.monotonic()
                recorded = work.database.call(
                    "webhook_record",
                    {
                        "endpoint_id": endpoint["id"],
                        "lease_token": endpoint["lease_token"],
                        "ids": [a.delivery_id for a in attempts],
                        "status_codes": [a.status_code for a in attempts],
                        "errors": [a.error for a in attempts],
                        "more": more,
                        "lease_seconds": work.lease,
                    },
                )
            except Exception:
                # The lease runs out and a later run sends these again: at least once.
                log.exception(
                    "webhook endpoint %s: recording %d attempts failed",
                    endpoint["id"],
                    len(attempts),
                )
                return DispatchResult(delivered, failed, endpoint["id"])
            if recorded.get("lease_lost"):
                # It outlived its lease and another dispatcher holds the endpoint now: that
                # one sends and records these; nothing of this thread's is recorded.
                log.warning(
                    "webhook endpoint %s: lease lost, %d attempts not recorded",
                    endpoint["id"],
                    len(attempts),
                )
                return DispatchResult(delivered, failed, endpoint["id"])
            delivered += int(recorded["delivered"])
            failed += int(recorded["failed"])
            deliveries = recorded["deliveries"]
            work.budget.give_back(more - len(deliveries))
            if stopped or not deliveries:
                unreachable = endpoint["id"] if attempts and attempts[-1].unreachable else None
                return DispatchResult(delivered, failed, unreachable)

    def _send_batch(
        self,
        endpoint: dict[str, Any],
        deliveries: list[dict[str, Any]],
        timeout: float,
        send_until: float,
    ) -> list[Attempt]:
        """Each delivery in order, until one gets no answer at all."""
        attempts: list[Attempt] = []
        try:
            client = self._client(endpoint["id"], timeout)
            for delivery in deliveries:
                if time.monotonic() > send_until:
                    break
                attempt = self._send(client, endpoint, delivery, timeout)
                attempts.append(attempt)
                if attempt.unreachable:
                    break
        except Exception:
            log.exception("webhook endpoint %s: sending failed", endpoint["id"])
        return attempts

    def _send(
        self,
        client: httpx.Client,
        endpoint: dict[str, Any],
        delivery: dict[str, Any],
        timeout: float,
    ) -> Attempt:
        url: str = endpoint["url"]
        body = json.dumps(
            {
                "type": delivery["type"],
                "timestamp": delivery["timestamp"],
                "data": delivery["data"],
            },
            separators=(",", ":"),
        )
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery["webhook_id"],
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(endpoint["secret"], delivery["webhook_id"], timestamp, body),
        }
        parts = urlsplit(url)
        if not config().webhooks_allow_private_urls and parts.scheme != "https":
            # Nothing is sent; the address only says which refusal it is.
            try:
                check_address(parts.hostname or "", parts.port or 80, timeout)
            except AddressNotAllowed:
                return Attempt(delivery["id"], None, "address_not_allowed")
            except (OSError, UnicodeError):
                pass
            return Attempt(delivery["id"], None, "https_required")
        # Every connection's addresses are checked when it is made (_PinnedBackend).
        try:
            with (
                _deadline(timeout),
                client.stream("POST", url, content=body.encode(), headers=headers) as response,
            ):
                # The status line decides; the body is read only so the connection can be
                # kept, and never past the deadline.
                _drain(response)
        except AddressNotAllowed:
            return Attempt(delivery["id"], None, "address_not_allowed")
        except httpx.TimeoutException:
            return Attempt(delivery["id"], None, "timeout")
        except ResolutionTimeout:
            return Attempt(delivery["id"], None, "timeout")
        except httpx.HTTPError as error:
            return Attempt(delivery["id"], None, f"connection_failed: {type(error).__name__}")
        except (OSError, UnicodeError):
            return Attempt(delivery["id"], None, "dns_failed")
        return Attempt(delivery["id"], response.status_code, None)

    def _client(self, endpoint_id: str, timeout: float) -> httpx.Client:
        """The endpoint's client, kept across runs so its connections stay open."""
        with self._clients_lock:
            client = self._clients.get(endpoint_id)
            if client is not None and client.timeout.read == timeout:
                self._clients.move_to_end(endpoint_id)
                return client
            if client is not None:
                client.close()
            client = httpx.Client(
                timeout=timeout,
                follow_redirects=False,
                trust_env=False,
                transport=_PinnedTransport(
                    httpx.Limits(max_connections=4, max_keepalive_connections=2)
                ),
            )
            self._clients[endpoint_id] = client
            while len(self._clients) > _MAX_CLIENTS:
                _, oldest = self._clients.popitem(last=False)
                oldest.close()
            return client


def _drain(response: httpx.Response) -> None:
    """Read a little of the body, so a short answer leaves the connection reusable."""
    read = 0
    try:
        for chunk in response.iter_raw():
            read += len(chunk)
            if read > _MAX_BODY_BYTES:
                return
    except httpx.HTTPError:
        pass  # the status line has arrived: it decides


_dispatcher: Dispatcher | None = None
_dispatcher_lock = threading.Lock()


def dispatcher() -> Dispatcher:
    global _dispatcher
    if _dispatcher is None:
        with _dispatcher_lock:
            if _dispatcher is None:
                _dispatcher = Dispatcher()
    return _dispatcher
