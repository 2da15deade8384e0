"""The dispatcher: sends what the outbox (webhook_deliveries) holds, fairly across
workspaces and endpoints.

A run leases endpoints from the database (takeover_webhook_lease: one dispatcher per
endpoint at a time, each with its due deliveries in log order, the workspaces taking turns,
at most LEASES_PER_WORKSPACE of one workspace at once) as this instance has threads free,
and works on each leased endpoint on a thread of its own, recording each batch of attempts
(takeover_webhook_record). The run's `limit` counts attempts made, never deliveries handed
over: an endpoint that does not answer costs one attempt and its own thread for one
timeout, then backs off alone (the database leaves it out of leases for a while) and gets
nothing more from this run.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import httpx

from functions.database.interface import Database
from functions.shared.config import config
from functions.shared.models import RETRY_SAFE
from functions.webhooks.attempts import Attempt, send
from functions.webhooks.transport import new_client

# Endpoints this instance works on at once (a thread each), over all its runs.
THREADS = 32
# Endpoints of one workspace leased at once, by every dispatcher together: one workspace
# never holds more than a quarter of an instance's threads.
LEASES_PER_WORKSPACE = 8
# Deliveries handed over with an endpoint's lease, or with each batch recorded, at most.
_PER_ENDPOINT = 250
# How long a lease holds the endpoint, at least; no attempt starts that could outlast it.
_MIN_LEASE_SECONDS = 60.0
_LEASE_MARGIN_SECONDS = 5.0
_MAX_CLIENTS = 1000

log = logging.getLogger("takeover.webhooks")


@dataclass(frozen=True)
class DispatchResult:
    delivered: int
    failed: int


@dataclass(frozen=True)
class _EndpointResult:
    delivered: int
    failed: int
    done: bool  # no more of this endpoint in this run (it did not answer, or sending broke)


class _Allowance:
    """How many more of something may be taken (a run's attempts, an instance's threads),
    by several threads."""

    def __init__(self, count: int) -> None:
        self._left = count
        self._lock = threading.Lock()

    @property
    def left(self) -> int:
        return self._left

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
    attempts: _Allowance  # the run's limit
    timeout: float
    lease: float


class Dispatcher:
    """One per instance: its threads, and an HTTP client (with its connections) per
    endpoint."""

    def __init__(self) -> None:
        self._clients: OrderedDict[str, httpx.Client] = OrderedDict()
        self._clients_lock = threading.Lock()
        self._threads = _Allowance(THREADS)
        self._pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="webhook")
        atexit.register(self.close)

    def close(self) -> None:
        """Close every endpoint's connections."""
        with self._clients_lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def run(self, database: Database, limit: int) -> DispatchResult:
        """Make up to `limit` attempts. Whenever a thread is free (and attempts are left), it
        leases more endpoints; an endpoint done in this run is not leased by it again."""
        timeout = config().webhook_timeout_seconds
        work = _Run(database, _Allowance(limit), timeout, max(_MIN_LEASE_SECONDS, 6 * timeout))
        delivered = failed = 0
        done: list[str] = []
        running: dict[Future[_EndpointResult], str] = {}
        while True:
            threads = self._threads.take(work.attempts.left)
            if threads:
                leased_at = time.monotonic()
                leased: list[dict[str, Any]] = []
                try:
                    leased = self._lease(work, threads, done)
                finally:
                    # The threads no endpoint was leased for, all of them if the lease failed,
                    # are free again: the instance's next run may use them.
                    self._threads.give_back(threads - len(leased))
                for endpoint in leased:
                    future = self._pool.submit(self._work, work, endpoint, leased_at)
                    running[future] = endpoint["id"]
            if not running:
                return DispatchResult(delivered, failed)
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                endpoint_id = running.pop(future)
                result = future.result()
                delivered += result.delivered
                failed += result.failed
                if result.done:
                    done.append(endpoint_id)

    def _lease(self, work: _Run, endpoints: int, done: list[str]) -> list[dict[str, Any]]:
        leased: list[dict[str, Any]] = work.database.call(
            "webhook_lease",
            {
                "endpoints": endpoints,
                "per_workspace": LEASES_PER_WORKSPACE,
                "per_endpoint": min(work.attempts.left, _PER_ENDPOINT),
                "lease_seconds": work.lease,
                "notice_seconds": config().expiry_notice_minutes * 60,
                "skip": done,
            },
            # A lease whose answer was lost only holds its endpoints until it runs out;
            # nothing is sent twice.
            RETRY_SAFE,
        )["endpoints"]
        return leased

    def _work(self, work: _Run, endpoint: dict[str, Any], leased_at: float) -> _EndpointResult:
        """Send the endpoint's deliveries, batch after batch, while the run's attempts last
        and the endpoint answers; record each batch under the lease."""
        try:
            delivered = failed = 0
            deliveries: list[dict[str, Any]] = endpoint["deliveries"]
            while True:
                # Start no attempt that could outlast the lease: past it, another dispatcher
                # may take the endpoint.
                send_until = leased_at + work.lease - work.timeout - _LEASE_MARGIN_SECONDS
                attempts, broke = self._send_batch(work, endpoint, deliveries, send_until)
                unanswered = bool(attempts) and attempts[-1].unanswered
                stopped = broke or unanswered or len(attempts) < len(deliveries)
                leased_at = time.monotonic()
                recorded = self._record(work, endpoint, attempts, 0 if stopped else _PER_ENDPOINT)
                if recorded is None:
                    return _EndpointResult(delivered, failed, done=True)
                delivered += int(recorded["delivered"])
                failed += int(recorded["failed"])
                deliveries = recorded["deliveries"]
                if stopped or not deliveries:
                    return _EndpointResult(delivered, failed, done=broke or unanswered)
        finally:
            self._threads.give_back(1)

    def _record(
        self, work: _Run, endpoint: dict[str, Any], attempts: list[Attempt], more: int
    ) -> dict[str, Any] | None:
        """Record the attempts and take up to `more` next due deliveries (or release the
        endpoint); None when nothing of this thread's could be recorded."""
        try:
            recorded: dict[str, Any] = work.database.call(
                "webhook_record",
                {
                    "endpoint_id": endpoint["id"],
                    "lease_token": endpoint["lease_token"],
                    "ids": [a.delivery_id for a in attempts],
                    "status_codes": [a.status_code for a in attempts],
                    "errors": [a.error for a in attempts],
                    "more": min(more, work.attempts.left),
                    "lease_seconds": work.lease,
                },
            )
        except Exception:
            # The lease runs out and a later run sends these again: at least once.
            log.exception(
                "webhook endpoint %s: recording %d attempts failed", endpoint["id"], len(attempts)
            )
            return None
        if recorded.get("lease_lost"):
            # It outlived its lease and another dispatcher holds the endpoint now: that one
            # sends and records these; nothing of this thread's is recorded.
            log.warning(
                "webhook endpoint %s: lease lost, %d attempts not recorded",
                endpoint["id"],
                len(attempts),
            )
            return None
        return recorded

    def _send_batch(
        self,
        work: _Run,
        endpoint: dict[str, Any],
        deliveries: list[dict[str, Any]],
        send_until: float,
    ) -> tuple[list[Attempt], bool]:
        """Each delivery in order, one attempt of the run's each, until one gets no answer;
        and whether sending broke (a bug: the endpoint is left for a later run)."""
        attempts: list[Attempt] = []
        try:
            client = self._client(endpoint["id"], work.timeout)
            for delivery in deliveries:
                if time.monotonic() > send_until or not work.attempts.take(1):
                    break
                attempt = send(client, endpoint, delivery, work.timeout)
                attempts.append(attempt)
                if attempt.unanswered:
                    break
        except Exception:
            log.exception("webhook endpoint %s: sending failed", endpoint["id"])
            return attempts, True
        return attempts, False

    def _client(self, endpoint_id: str, timeout: float) -> httpx.Client:
        """The endpoint's client, kept across runs so its connections stay open."""
        with self._clients_lock:
            client = self._clients.get(endpoint_id)
            if client is not None and client.timeout.read == timeout:
                self._clients.move_to_end(endpoint_id)
                return client
            if client is not None:
                client.close()
            client = new_client(timeout)
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
