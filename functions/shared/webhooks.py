"""Webhooks by Standard Webhooks: endpoint URLs we accept, secrets, signatures, and the
dispatcher that sends what the outbox (webhook_deliveries) holds.

The dispatcher leases endpoints (the database hands each endpoint to one dispatcher at a
time, with its due deliveries in log order), sends them on a thread per endpoint so a slow
or dead endpoint never holds up the others, and records each attempt.
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
import socket
import threading
import time
from collections import OrderedDict
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from functions.shared.config import config
from functions.shared.dbapi import Database
from functions.shared.errors import Unprocessable

EVENT_TYPES = (
    "takeover.pause_activated",
    "takeover.interaction_blocked",
    "takeover.auto_resume",
    "takeover.force_resume",
    "takeover.extend_pause",
    "takeover.pause_expiring",
)
MAX_URL_LENGTH = 2048
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
_SECRET_BYTES = 32
# Deliveries of one endpoint per claim; and how long a claim holds the endpoint, at least.
_PER_ENDPOINT = 250
_MIN_LEASE_SECONDS = 60.0
_LEASE_MARGIN_SECONDS = 5.0
_MAX_CLIENTS = 1000
_WORKERS = 32

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


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # Only globally routable addresses: this refuses loopback, private, link-local, CGNAT,
    # multicast, unspecified and reserved ranges alike.
    return not ip.is_global


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def check_address(host: str, port: int) -> None:
    """Raise AddressNotAllowed unless every address `host` resolves to is public. An
    unresolvable host raises socket.gaierror."""
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        if host.lower() == "localhost" or host.lower().endswith(".localhost"):
            raise AddressNotAllowed(host)
        addresses = [
            str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        ]
    if any(_forbidden(str(address)) for address in addresses):
        raise AddressNotAllowed(host)


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
        raise refuse("must start with https://")
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
            pass  # not resolvable now; checked again at every delivery
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
                attempt = self._send(client, endpoint, delivery)
                attempts.append(attempt)
                if attempt.unreachable:
                    break
        except Exception:
            log.exception("webhook endpoint %s: sending failed", endpoint["id"])
        return attempts

    def _send(
        self, client: httpx.Client, endpoint: dict[str, Any], delivery: dict[str, Any]
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
        if not config().webhooks_allow_private_urls:
            # Checked at every delivery, not only when saved: DNS can change since.
            parts = urlsplit(url)
            try:
                check_address(parts.hostname or "", parts.port or 443)
            except AddressNotAllowed:
                return Attempt(delivery["id"], None, "address_not_allowed")
            except (OSError, UnicodeError):
                return Attempt(delivery["id"], None, "dns_failed")
            if parts.scheme != "https":
                return Attempt(delivery["id"], None, "https_required")
        try:
            response = client.post(url, content=body.encode(), headers=headers)
        except httpx.TimeoutException:
            return Attempt(delivery["id"], None, "timeout")
        except httpx.HTTPError as error:
            return Attempt(delivery["id"], None, f"connection_failed: {type(error).__name__}")
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
                limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
            )
            self._clients[endpoint_id] = client
            while len(self._clients) > _MAX_CLIENTS:
                _, oldest = self._clients.popitem(last=False)
                oldest.close()
            return client


_dispatcher: Dispatcher | None = None
_dispatcher_lock = threading.Lock()


def dispatcher() -> Dispatcher:
    global _dispatcher
    if _dispatcher is None:
        with _dispatcher_lock:
            if _dispatcher is None:
                _dispatcher = Dispatcher()
    return _dispatcher
