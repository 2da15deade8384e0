"""The noisy-neighbour leg: the soak's workers (Acme, the quiet tenant, with a healthy webhook
receiver) go on while another tenant (Globex) storms the same function process: endpoints
that accept a connection and never answer, its own events for them, and heavy readers
(366-day pause-reports, pause-logger pages without a conversation) at a steady concurrency.
No faults: what Acme loses here, a neighbour took.

The first third of the run is quiet, the rest the storm. The figures: Acme's gate p50 during
the storm against its quiet p50 (same run), and Acme's webhook delay, from a log row's
created_at (its transaction's start, just before the commit) to the receiver's receipt. The
invariants, beside the soak's own (which hold over Acme's calls): every Acme log row written
during the run reaches Acme's receiver exactly once, signed with its secret, and nothing of
another tenant's does; Globex never holds more than its share of the leases; the storm's own
calls get no 5xx but a 503 with Retry-After; webhook-dispatch always answers 200.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from takeover_client.webhooks import WebhookVerificationError, verify_webhook

from functions.local import demo
from functions.webhooks.dispatcher import LEASES_PER_WORKSPACE
from tests.receivers import Receiver, receiver
from tests.reliability.client import Answer, Client
from tests.reliability.postgres import add_conversations
from tests.reliability.replay import Violation
from tests.reliability.report import ms
from tests.reliability.soak import JWT_SECRET, V1, SoakReport, quantile

QUIET = demo.WORKSPACE_ID  # Acme: the soak's workers
NOISY = demo.OTHER_WORKSPACE_ID  # Globex: the storm
# A third tenant whose history comes first in the log: a page of Globex's log without a
# conversation walks past it (the probe's tenant of 18 rows in a 1M-row log).
HISTORY = UUID("7a1c0000-0000-4000-8000-0000000000f1")
REPORT_DAYS = timedelta(days=366) - timedelta(minutes=1)  # the longest window allowed


@dataclass(frozen=True)
class NeighbourSettings:
    rows: int = 400_000  # the log's history: half the third tenant's, then half Globex's
    readers: int = 16  # Globex's heavy readers, each one call after another
    silent_endpoints: int = 40
    noisy_conversations: int = 100
    quiet_fraction: float = 1 / 3
    dispatch_interval_seconds: float = 2.0  # make run's
    dispatch_overlap: int = 3  # make run's
    drain_seconds: float = 90.0  # for Acme's last webhooks once the load stops
    webhook_timeout_seconds: float = 10.0  # the contract's

    @classmethod
    def from_environment(cls) -> NeighbourSettings:
        env = os.environ
        return cls(
            rows=int(env.get("RELIABILITY_NEIGHBOUR_ROWS", cls.rows)),
            readers=int(env.get("RELIABILITY_NEIGHBOUR_READERS", cls.readers)),
        )


@dataclass
class _Call:
    kind: str
    started: float  # time.monotonic()
    seconds: float
    status: int  # 0: no HTTP answer
    retry_after: bool


@dataclass
class _Calls:
    """Calls made by several threads."""

    calls: list[_Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(
        self,
        client: Client,
        kind: str,
        method: str,
        path: str,
        token: str,
        *,
        body: Any = None,
        query: dict[str, str] | None = None,
    ) -> Answer | None:
        started = time.monotonic()
        answer: Answer | None
        try:
            answer = client.request(method, f"{V1}/{path}", token=token, body=body, query=query)
        except (OSError, http.client.HTTPException):
            answer = None
        call = _Call(
            kind,
            started,
            time.monotonic() - started,
            answer.status if answer else 0,
            bool(answer and answer.headers.get("retry-after")),
        )
        with self.lock:
            self.calls.append(call)
        return answer

    def of(self, kind: str) -> list[_Call]:
        with self.lock:
            return [call for call in self.calls if call.kind == kind]


class Neighbours:
    """The soak's Load for this leg (tests/reliability/soak.py)."""

    def __init__(self, settings: NeighbourSettings, seconds: float) -> None:
        self.server_env = {
            "WEBHOOKS_ALLOW_PRIVATE_URLS": "1",
            "WEBHOOK_TIMEOUT_SECONDS": f"{settings.webhook_timeout_seconds:g}",
        }
        self.settings = settings
        self.quiet_seconds = seconds * settings.quiet_fraction
        self.acme_admin = demo.attendant_token(JWT_SECRET, demo.ADMIN_ID)
        self.globex_admin = demo.attendant_token(JWT_SECRET, demo.OTHER_ADMIN_ID)
        self.service = demo.service_token(JWT_SECRET)
        self.calls = _Calls()
        self.storm_stop = threading.Event()
        self.stopped = threading.Event()
        self.resources = ExitStack()
        self.threads: list[threading.Thread] = []
        self.storm_threads: list[threading.Thread] = []
        self.url = ""
        self.port = 0
        self.first_log_id = 0
        self.noisy: list[UUID] = []
        self.secret = self.endpoint_id = ""
        self.attempts: dict[str, int] = {}  # Acme's deliveries: attempts made, by webhook id
        self.silent_attempts = (0, 0)  # Globex's deliveries attempted, attempts made
        self.healthy: Receiver | None = None
        self.started = self.storm_started = self.storm_ended = 0.0
        self.storm_started_at = 0.0  # time.time()
        self.most_leases = 0

    # The soak's Load ------------------------------------------------------------------------

    def prepare(self, url: str) -> None:
        """Globex's conversations, and the log's history: the third tenant's first, then
        Globex's, over the last year."""
        self.url = url
        half = self.settings.rows // 2
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(
                "insert into public.workspaces (id, name) values (%s, 'Initech (history)')",
                (HISTORY,),
            )
        history = add_conversations(url, 100, HISTORY)
        self.noisy = add_conversations(url, self.settings.noisy_conversations, NOISY)
        with psycopg.connect(url, autocommit=True) as connection:
            for conversations in (history, self.noisy):
                connection.execute(_HISTORY_ROWS, {"ids": conversations, "n": half})
            connection.execute("analyze")
            row = connection.execute("select coalesce(max(id), 0) from ai_pause_logs").fetchone()
        assert row is not None
        self.first_log_id = int(row[0])

    def start(self, port: int, started: float) -> None:
        self.port, self.started = port, started
        self.storm_started = started + self.quiet_seconds
        self.healthy = self.resources.enter_context(receiver())
        silent = self.resources.enter_context(socket.create_server(("127.0.0.1", 0), backlog=1024))
        client = Client(port)
        try:
            acme = self._subscribe(client, self.acme_admin, QUIET, self.healthy.url)
            self.secret, self.endpoint_id = acme["secret"], acme["id"]
            silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
            for n in range(self.settings.silent_endpoints):
                self._subscribe(client, self.globex_admin, NOISY, f"{silent_url}?n={n}")
        finally:
            client.close()
        self.threads = [
            threading.Thread(target=self._dispatching, name="dispatch", daemon=True),
            threading.Thread(target=self._watching_leases, name="leases", daemon=True),
            threading.Thread(target=self._storm, name="storm", daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.storm_ended = time.monotonic()
        self.storm_stop.set()
        for thread in self.storm_threads:
            thread.join(30)

    def check(self, report: SoakReport) -> None:
        """Wait for Acme's last webhooks (the dispatcher still running), then hold them and
        the storm's calls against the invariants; the leg's figures."""
        try:
            expected = self._drain()
        finally:
            # The dispatch runs under way end (their silent endpoints' attempts time out).
            self.stopped.set()
            for thread in self.threads:
                thread.join(60)
            self.resources.close()
        self._read_deliveries()
        assert self.healthy is not None
        self._check_deliveries(report, expected, self.healthy)
        self._check_calls(report)
        self._figures(report, self.healthy)

    # The storm --------------------------------------------------------------------------------

    def _storm(self) -> None:
        if self.storm_stop.wait(max(0.0, self.storm_started - time.monotonic())):
            return
        self.storm_started_at = time.time()
        self.storm_threads = [
            threading.Thread(target=self._reading, args=(n,), name=f"reader-{n}", daemon=True)
            for n in range(self.settings.readers)
        ]
        self.storm_threads.append(
            threading.Thread(target=self._noisy_events, name="noisy-events", daemon=True)
        )
        for thread in self.storm_threads:
            thread.start()

    def _reading(self, index: int) -> None:
        """One heavy read after another: a 366-day report, or a log page without a
        conversation, of Globex."""
        pick = random.Random(index)
        client = Client(self.port)
        try:
            while not self.storm_stop.is_set():
                if pick.random() < 0.5:
                    until = datetime.now(UTC)
                    query = {
                        "workspace_id": str(NOISY),
                        "since": (until - REPORT_DAYS).isoformat(),
                        "until": until.isoformat(),
                    }
                    self.calls.send(
                        client,
                        "pause-report",
                        "GET",
                        "pause-report",
                        self.globex_admin,
                        query=query,
                    )
                else:
                    self.calls.send(
                        client,
                        "pause-logger GET",
                        "GET",
                        "pause-logger",
                        self.globex_admin,
                        query={"limit": "100"},
                    )
        finally:
            client.close()

    def _noisy_events(self) -> None:
        """Events for Globex's silent endpoints: 150 pause/resume cycles at once (as the
        probe made), then one every half second."""
        client = Client(self.port)
        try:
            for cycle in range(1_000_000):
                if cycle >= 150 and self.storm_stop.wait(0.5):
                    return
                if self.storm_stop.is_set():
                    return
                conversation = str(self.noisy[cycle % len(self.noisy)])
                for path in ("pause-activate", "pause-resume"):
                    self.calls.send(
                        client,
                        "noisy transition",
                        "POST",
                        path,
                        self.globex_admin,
                        body={"conversation_id": conversation, "duration_minutes": 60}
                        if path == "pause-activate"
                        else {"conversation_id": conversation},
                    )
        finally:
            client.close()

    # The dispatcher, as make run drives it -----------------------------------------------------

    def _dispatching(self) -> None:
        """webhook-dispatch every interval, up to `dispatch_overlap` runs at once."""
        runs = threading.BoundedSemaphore(self.settings.dispatch_overlap)

        def run() -> None:
            client = Client(self.port, timeout=120)
            try:
                self.calls.send(
                    client,
                    "webhook-dispatch",
                    "POST",
                    "webhook-dispatch",
                    self.service,
                    body={"limit": 1000},
                )
            finally:
                client.close()
                runs.release()

        while not self.stopped.wait(self.settings.dispatch_interval_seconds):
            if runs.acquire(blocking=False):
                threading.Thread(target=run, name="dispatch-run", daemon=True).start()
        for _ in range(self.settings.dispatch_overlap):
            runs.acquire(timeout=120)  # the runs under way end

    def _watching_leases(self) -> None:
        """The most endpoints Globex holds leased at once."""
        with psycopg.connect(self.url, autocommit=True) as connection:
            while not self.stopped.wait(0.1):
                row = connection.execute(
                    "select count(*) from public.webhook_endpoints"
                    " where workspace_id = %s and leased_until > now()",
                    (NOISY,),
                ).fetchone()
                self.most_leases = max(self.most_leases, int(row[0]) if row else 0)

    # Checks -------------------------------------------------------------------------------------

    def _subscribe(self, client: Client, token: str, workspace: UUID, url: str) -> dict[str, Any]:
        answer = client.request(
            "POST",
            f"{V1}/webhook-endpoints",
            token=token,
            body={"workspace_id": str(workspace), "url": url},
        )
        if answer.status != 200:
            raise RuntimeError(f"subscribing {url}: {answer.status} {answer.body}")
        endpoint: dict[str, Any] = answer.body
        return endpoint

    def _acme_rows(self) -> set[str]:
        with psycopg.connect(self.url, autocommit=True) as connection:
            rows = connection.execute(
                "select id from public.ai_pause_logs where workspace_id = %s and id > %s",
                (QUIET, self.first_log_id),
            ).fetchall()
        return {f"evt_{row[0]}" for row in rows}

    def _drain(self) -> set[str]:
        """Acme's log events of the run, once its receiver has them all or the drain's time
        is up."""
        assert self.healthy is not None
        deadline = time.monotonic() + self.settings.drain_seconds
        while True:
            expected = self._acme_rows()
            if expected <= set(self.healthy.ids()) or time.monotonic() > deadline:
                return expected
            time.sleep(0.2)

    def _read_deliveries(self) -> None:
        """The attempts each of Acme's deliveries recorded; Globex's deliveries attempted."""
        with psycopg.connect(self.url, autocommit=True) as connection:
            self.attempts = dict(
                connection.execute(
                    "select webhook_id, attempts from public.webhook_deliveries"
                    " where endpoint_id = %s",
                    (self.endpoint_id,),
                ).fetchall()
            )
            row = connection.execute(
                "select count(*) filter (where d.attempts > 0), coalesce(sum(d.attempts), 0)"
                " from public.webhook_deliveries d"
                " join public.webhook_endpoints e on e.id = d.endpoint_id"
                " where e.workspace_id = %s",
                (NOISY,),
            ).fetchone()
        assert row is not None
        self.silent_attempts = (int(row[0]), int(row[1]))

    def _check_deliveries(self, report: SoakReport, expected: set[str], healthy: Receiver) -> None:
        received = Counter(healthy.ids())
        for webhook_id in sorted(expected - set(received)):
            report.add(Violation("webhook of a committed row never delivered", webhook_id))
        for webhook_id, count in received.items():
            # Twice only when the first attempt failed (at least once), never after a 2xx. (A
            # notice whose pause ended while it was sent is cancelled, its attempt unrecorded.)
            if count > max(1, self.attempts.get(webhook_id, 0)):
                report.add(
                    Violation(
                        "webhook received more often than sent",
                        f"{webhook_id} x{count}, {self.attempts.get(webhook_id)} attempts",
                    )
                )
            if webhook_id.startswith("evt_") and webhook_id not in expected:
                report.add(Violation("webhook of a row not Acme's", webhook_id))
        for delivery in healthy.received:
            try:
                event = verify_webhook(
                    self.secret, delivery.body, delivery.headers, now=delivery.at
                )
            except WebhookVerificationError as error:
                report.add(Violation("webhook not signed with the endpoint's secret", str(error)))
                continue
            if event.data.get("workspace_id") != str(QUIET):
                report.add(Violation("webhook of another tenant", event.webhook_id))
        if self.most_leases > LEASES_PER_WORKSPACE:
            report.add(
                Violation("one tenant held more than its leases", f"{self.most_leases} at once")
            )

    def _check_calls(self, report: SoakReport) -> None:
        for call in self.calls.of("webhook-dispatch"):
            if call.status != 200:
                report.add(Violation(f"webhook-dispatch answered {call.status}", f"{call}"))
        for kind in ("pause-report", "pause-logger GET", "noisy transition"):
            for call in self.calls.of(kind):
                if call.status in (429, 503) and not call.retry_after:
                    report.add(Violation(f"{call.status} without Retry-After", f"{call}"))
                elif call.status == 0 or (call.status >= 500 and call.status != 503):
                    report.add(Violation(f"storm call answered {call.status}", f"{call}"))

    # Figures ------------------------------------------------------------------------------------

    def _figures(self, report: SoakReport, healthy: Receiver) -> None:
        gates = [a for a in report.results.attempts if a.function == "interaction-gate"]
        quiet = [a.seconds for a in gates if a.started < self.storm_started]
        storm = [a.seconds for a in gates if self.storm_started <= a.started < self.storm_ended]
        storm_503 = sum(1 for a in gates if a.status == 503 and self.storm_started <= a.started)
        delays = _delays(healthy)
        quiet_delays = [d for at, d in delays if at < self.storm_started_at]
        storm_delays = [d for at, d in delays if at >= self.storm_started_at]
        reads = self.calls.of("pause-report") + self.calls.of("pause-logger GET")
        statuses = Counter(call.status for call in reads)
        quiet_p50, storm_p50 = quantile(quiet, 0.5), quantile(storm, 0.5)
        storm_delays_p50 = quantile(storm_delays, 0.5)
        ratio = storm_p50 / quiet_p50 if quiet and storm and quiet_p50 else 0.0
        report.figures += [
            (
                "neighbours: Acme's gate p50",
                f"{ms(quiet_p50)} quiet ({len(quiet)} calls), {ms(storm_p50)} in the storm "
                f"({len(storm)} calls, p99 {ms(quantile(storm, 0.99))}, {storm_503} answered 503):"
                f" x{ratio:.1f}",
            ),
            (
                "neighbours: Acme's webhooks",
                f"row to receipt p50 {ms(storm_delays_p50)}, max "
                f"{ms(max(storm_delays, default=0))} in the storm "
                f"({len(storm_delays)}); quiet p50 {ms(quantile(quiet_delays, 0.5))}, max "
                f"{ms(max(quiet_delays, default=0))} ({len(quiet_delays)})",
            ),
            (
                "neighbours: Globex's storm",
                f"{len(reads)} heavy reads by {self.settings.readers} readers (p50 "
                f"{ms(quantile([c.seconds for c in reads], 0.5))}; "
                + "  ".join(f"{code or 'none'}: {n}" for code, n in sorted(statuses.items()))
                + f"), {len(self.calls.of('noisy transition'))} transitions, "
                f"{self.settings.silent_endpoints} silent endpoints (at most "
                f"{self.most_leases} leased at once; {self.silent_attempts[1]} attempts at "
                f"{self.silent_attempts[0]} of their deliveries), a log of "
                f"{self.settings.rows:,} rows",
            ),
        ]
        report.headline = (
            f"Acme's gate p50 {ms(quiet_p50)} quiet vs {ms(storm_p50)} in Globex's storm"
            f" (x{ratio:.1f}), Acme's webhooks p50 {ms(storm_delays_p50)} max "
            f"{ms(max(storm_delays, default=0))}"
        )


# Rows of the log's history, for the conversations %(ids)s: %(n)s rows over the last year,
# oldest first, each conversation cycling pause, block, extend, block, resume.
_HISTORY_ROWS = """
    insert into public.ai_pause_logs (conversation_id, workspace_id, action, reason,
        duration_minutes, triggered_by, previous_ai_mode, new_ai_mode, message_id, created_at)
    select c.id, c.workspace_id,
           (array['pause_activated', 'interaction_blocked', 'extend_pause',
                  'interaction_blocked', 'force_resume'])[g %% 5 + 1]::public.ai_pause_action,
           'history', case g %% 5 when 0 then 30 when 2 then 15 when 4 then 45 end,
           case when g %% 5 in (1, 3) then 'ai_agent' else 'history' end,
           (case when g %% 5 = 0 then 'active' else 'paused' end)::public.ai_mode,
           (case when g %% 5 = 4 then 'active' else 'paused' end)::public.ai_mode,
           case when g %% 5 in (1, 3) then 'history-' || g end,
           now() - interval '365 days' + g * (interval '365 days' / %(n)s)
    from generate_series(0, %(n)s - 1) g
    join public.conversations c
      on c.id = (%(ids)s::uuid[])[(g / 5) %% cardinality(%(ids)s::uuid[]) + 1]
"""


def _delays(healthy: Receiver) -> list[tuple[float, float]]:
    """(the row's created_at, seconds until the receiver had it) of each log event."""
    delays = []
    for delivery in healthy.received:
        if not delivery.headers.get("webhook-id", "").startswith("evt_"):
            continue
        created = datetime.fromisoformat(
            str(_payload(delivery.body)["data"]["created_at"]).replace("Z", "+00:00")
        ).timestamp()
        delays.append((created, delivery.at - created))
    return delays


def _payload(body: bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(body)
    return parsed
