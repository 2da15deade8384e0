"""The concurrent soak: workers calling every function at random over a few hundred
conversations while a clock moves pauses into the past and the database fails under them.

Every request is recorded; afterwards the answers are held against the database: each
answered event exists exactly once, each conversation's state is the replay of its log,
and the function process logged each request once.
"""

from __future__ import annotations

import http.client
import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import psycopg

from functions.local import demo
from tests.reliability.client import Answer, Client, ServerProcess
from tests.reliability.faults import FaultInjector, FaultWindow
from tests.reliability.pooler import Bouncer
from tests.reliability.postgres import EmbeddedPostgres, add_conversations
from tests.reliability.replay import (
    HUMAN_REPLIED,
    Conversation,
    LogRow,
    Shift,
    Violation,
    replay,
)

JWT_SECRET = "reliability-secret-long-enough-for-hs256-0123456789"
V1 = "/functions/v1"
# The functions and how often a worker picks each.
MIX: dict[str, int] = {
    "pause-activate": 16,
    "pause-extend": 10,
    "pause-resume": 9,
    "human-reply": 8,
    "interaction-gate": 24,
    "pause-logger POST": 6,
    "pause-logger GET": 7,
    "pause-status": 18,
    "auto-resume": 3,
}
# What each may answer when the database is up (503: only during an injected fault).
EXPECTED_STATUS: dict[str, frozenset[int]] = {
    "pause-activate": frozenset({200, 409}),
    "pause-extend": frozenset({200, 409}),
    "pause-resume": frozenset({200, 409}),
    "human-reply": frozenset({200}),
    "interaction-gate": frozenset({200}),
    "pause-logger POST": frozenset({200, 409}),
    "pause-logger GET": frozenset({200}),
    "pause-status": frozenset({200}),
    "auto-resume": frozenset({200}),
}
# The log row a 200 answer's event_id must be.
EVENT_ACTION = {
    "pause-activate": "pause_activated",
    "pause-extend": "extend_pause",
    "pause-resume": "force_resume",
    "interaction-gate": "interaction_blocked",
    "pause-logger POST": "interaction_blocked",
    "pause-status": "auto_resume",
}
TRANSITIONS = frozenset({"pause-activate", "pause-extend", "pause-resume"})
# Violations of the contract the core is known to have (each with its xfail test): counted
# and shown apart, not failing the run, until the fix lands and the entry goes.
KNOWN_BUGS: dict[str, str] = {}
HOT_CONVERSATIONS = 8  # a few conversations every worker fights over
MAX_RETRIES = 2


@dataclass(frozen=True)
class Settings:
    seconds: float = 60.0
    workers: int = 32
    conversations: int = 300
    kills: int = 4
    restarts: int = 2
    outage_seconds: float = 4.0
    db_timeout_seconds: float = 3.0
    clock_interval_seconds: float = 0.2
    seed: int = 0
    # The pooler leg: the functions reach Postgres through PgBouncer in transaction mode,
    # which is also stopped and started `pooler_restarts` times.
    pooler: bool = False
    pooler_restarts: int = 0
    # The noisy-neighbour leg (tests/reliability/neighbours.py): another tenant's load beside
    # the workers, no faults.
    neighbours: bool = False

    @property
    def leg(self) -> str:
        return "neighbours" if self.neighbours else "pooler" if self.pooler else "direct"

    @property
    def latency_bound_seconds(self) -> float:
        """The longest a request may take even during an outage: a wait for a pooled
        connection plus a statement, each bounded by the database timeout, and slack."""
        return 2 * self.db_timeout_seconds + 2.0


@dataclass(frozen=True)
class Attempt:
    op: int
    function: str
    started: float  # time.monotonic()
    started_wall: float  # time.time(), to compare with the database's clock
    seconds: float
    status: int  # 0: no HTTP answer at all
    retry_after: bool
    request_id: str


@dataclass
class Operation:
    """What a worker meant to do; a transition answered 503 is retried with its key."""

    op: int
    function: str
    conversation_id: UUID
    tag: str  # the reason (and Idempotency-Key) that ties its log row to it
    method: str
    path: str
    token: str = field(repr=False)
    body: Any = None
    query: dict[str, str] | None = None
    message_id: str | None = None
    known_event: int | None = None  # a message blocked before: the answer must repeat it
    # human-reply of a message replied before: the answer must repeat its event_id (or null)
    repeat: bool = False
    statuses: list[int] = field(default_factory=list)
    event_ids: set[int] = field(default_factory=set)
    due: float = 0.0


@dataclass
class Results:
    attempts: list[Attempt] = field(default_factory=list)
    operations: list[Operation] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    sweeps: list[tuple[float, float, list[UUID]]] = field(default_factory=list)
    clock_shifts: int = 0


class Tokens:
    def __init__(self, secret: str) -> None:
        self.attendant = demo.attendant_token(secret, demo.ATTENDANT_ID)
        self.admin = demo.attendant_token(secret, demo.ADMIN_ID)
        self.service = demo.service_token(secret)


class Worker(threading.Thread):
    def __init__(
        self,
        index: int,
        port: int,
        conversations: list[UUID],
        tokens: Tokens,
        stop: threading.Event,
        seed: int,
    ) -> None:
        super().__init__(name=f"soak-{index}", daemon=True)
        self.index = index
        self.client = Client(port)
        self.conversations = conversations
        self.tokens = tokens
        self.stop = stop
        self.random = random.Random(seed * 1000 + index)
        self.results = Results()
        self._retries: list[Operation] = []
        self._blocked: list[tuple[UUID, str, int]] = []  # message ids blocked before
        # human messages replied before, with the event their first answer named
        self._replied: list[tuple[UUID, str, int | None]] = []
        self._serial = 0

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                now = time.monotonic()
                due = [op for op in self._retries if op.due <= now]
                if due:
                    self._retries.remove(due[0])
                    self._send(due[0])
                else:
                    self._send(self._next_operation())
        finally:
            self.client.close()

    # Choosing ------------------------------------------------------------------------------

    def _next_operation(self) -> Operation:
        self._serial += 1
        op = self.index * 10_000_000 + self._serial
        tag = f"rel-{op}"
        function = self.random.choices(list(MIX), weights=list(MIX.values()))[0]
        if self.random.random() < 0.2:
            conversation = self.conversations[self.random.randrange(HOT_CONVERSATIONS)]
        else:
            conversation = self.random.choice(self.conversations)
        target = str(conversation)
        attendant = self.random.choice([self.tokens.attendant, self.tokens.admin])
        anyone = self.random.choice([attendant, self.tokens.service])

        def new(method: str, path: str, token: str, **fields: Any) -> Operation:
            return Operation(
                op, function, conversation, tag, method, f"{V1}/{path}", token, **fields
            )

        if function == "pause-activate":
            body: dict[str, Any] = {"conversation_id": target, "reason": tag}
            choice = self.random.random()
            if choice < 0.85:
                body["duration_minutes"] = self.random.choice([15, 30, 60, 120])
            elif choice < 0.9:
                body["duration_minutes"] = None  # indefinite; else absent: the default
            if anyone == self.tokens.service and self.random.random() < 0.5:
                body["triggered_by"] = str(demo.ATTENDANT_ID)
            return new("POST", "pause-activate", anyone, body=body)
        if function == "pause-extend":
            minutes = None if self.random.random() < 0.05 else self.random.choice([15, 30, 60])
            body = {"conversation_id": target, "duration_minutes": minutes, "reason": tag}
            return new("POST", "pause-extend", anyone, body=body)
        if function == "pause-resume":
            body = {"conversation_id": target, "reason": tag}
            return new("POST", "pause-resume", anyone, body=body)
        if function == "human-reply":
            # A new message, or one replied before (an echo delivered twice).
            replied: tuple[UUID, str, int | None] | None = None
            if self._replied and self.random.random() < 0.2:
                replied = self.random.choice(self._replied)
            conversation, human_message, first_event = replied or (conversation, f"h-{op}", None)
            body = {"conversation_id": str(conversation), "message_id": human_message}
            if anyone == self.tokens.service and self.random.random() < 0.5:
                body["triggered_by"] = str(demo.ATTENDANT_ID)
            return new(
                "POST",
                "human-reply",
                anyone,
                body=body,
                message_id=human_message,
                known_event=first_event,
                repeat=replied is not None,
            )
        if function in {"interaction-gate", "pause-logger POST"}:
            message_id: str | None = f"m-{op}"
            known: int | None = None
            if self._blocked and self.random.random() < 0.25:
                conversation, message_id, known = self.random.choice(self._blocked)
                target = str(conversation)
            elif self.random.random() < 0.1:
                message_id = None
            body = {"conversation_id": target, "message_id": message_id}
            path = "interaction-gate"
            if function == "pause-logger POST":
                path = "pause-logger"
                body.update(action="interaction_blocked", reason=tag)
            return new(
                "POST",
                path,
                self.tokens.service,
                body=body,
                message_id=message_id,
                known_event=known,
            )
        if function == "pause-logger GET":
            query = {"conversation_id": target, "limit": "20"}
            return new("GET", "pause-logger", anyone, query=query)
        if function == "pause-status":
            return new("GET", "pause-status", anyone, query={"conversation_id": target})
        return new("POST", "auto-resume", self.tokens.service, body={"limit": 50})

    # Sending -------------------------------------------------------------------------------

    def _send(self, operation: Operation) -> None:
        attempt_number = len(operation.statuses)
        request_id = f"{operation.tag}-{attempt_number}"
        headers = {"X-Request-Id": request_id}
        if operation.function in TRANSITIONS:
            headers["Idempotency-Key"] = operation.tag
        started, started_wall = time.monotonic(), time.time()
        answer: Answer | None
        try:
            answer = self.client.request(
                operation.method,
                operation.path,
                token=operation.token,
                body=operation.body,
                query=operation.query,
                headers=headers,
            )
        except (OSError, http.client.HTTPException) as error:  # a timeout, a reset, ...
            answer = None
            self._violation("no HTTP answer", f"{operation.function} {request_id}: {error!r}")
        seconds = time.monotonic() - started
        status = answer.status if answer else 0
        retry_after = bool(answer and answer.headers.get("retry-after"))
        self.results.attempts.append(
            Attempt(
                operation.op,
                operation.function,
                started,
                started_wall,
                seconds,
                status,
                retry_after,
                request_id,
            )
        )
        if attempt_number == 0:
            self.results.operations.append(operation)
        operation.statuses.append(status)
        if answer is None:
            return
        if status == 503 and operation.function in TRANSITIONS and attempt_number < MAX_RETRIES:
            delay = float(answer.headers.get("retry-after") or 1)
            operation.due = time.monotonic() + min(delay, 2.0) * self.random.uniform(0.5, 1.0)
            self._retries.append(operation)
        if status == 200:
            self._check_answer(operation, answer, request_id, started_wall, time.time())

    def _check_answer(
        self, operation: Operation, answer: Answer, request_id: str, sent: float, got: float
    ) -> None:
        body = answer.body
        function = operation.function
        if not isinstance(body, dict):
            self._violation("unreadable 200 answer", f"{function}: {body!r}")
            return
        echoed = answer.headers.get("x-request-id")
        if echoed != request_id:
            self._violation("request id not echoed", f"{function} {request_id}: {echoed}")
        if function == "auto-resume":
            ids = [UUID(value) for value in body.get("conversation_ids", [])]
            self.results.sweeps.append((sent, got, ids))
            return
        if function == "pause-logger GET":
            events = body.get("events", [])
            if any(
                event.get("conversation_id") != str(operation.conversation_id) for event in events
            ):
                self._violation("pause-logger answered another conversation's events", str(body))
            return
        if "ai_mode" in body:
            until = body.get("paused_until")
            if body["ai_mode"] == "paused" and until is not None and _epoch(until) <= sent - 0.05:
                # The timer had run out before the request was even sent.
                kind = f"{function} answered paused past the timer"
                if operation.known_event is not None and function == "interaction-gate":
                    kind = "a repeated message_id: the gate answered paused past the timer"
                self._violation(kind, str(body))
        if function == "human-reply":
            if operation.repeat and body.get("event_id") != operation.known_event:
                self._violation(
                    "a message replied before got another answer",
                    f"{operation.message_id}: {body} (first event {operation.known_event})",
                )
            if not operation.repeat and len(self._replied) < 500:
                assert operation.message_id is not None
                entry = (operation.conversation_id, operation.message_id, body.get("event_id"))
                self._replied.append(entry)
        if function in {"interaction-gate", "pause-logger POST"}:
            if operation.known_event is not None and (
                body.get("event_id") != operation.known_event or body.get("allowed") is True
            ):
                self._violation(
                    "a message blocked before got another answer",
                    f"{function} {operation.message_id}: {body} (first event "
                    f"{operation.known_event})",
                )
            if body.get("event_id") is not None and operation.message_id is not None:
                self._remember_block(operation, int(body["event_id"]))
        if body.get("event_id") is not None:
            operation.event_ids.add(int(body["event_id"]))

    def _remember_block(self, operation: Operation, event_id: int) -> None:
        assert operation.message_id is not None
        entry = (operation.conversation_id, operation.message_id, event_id)
        if operation.known_event is None and len(self._blocked) < 500:
            self._blocked.append(entry)

    def _violation(self, kind: str, detail: str) -> None:
        self.results.violations.append(Violation(kind, detail))


def _epoch(moment: str) -> float:
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()


class Clock(threading.Thread):
    """Moves random timed pauses so they run out within seconds, and records each move."""

    def __init__(
        self,
        url: str,
        conversations: list[UUID],
        stop: threading.Event,
        interval: float,
        seed: int,
    ) -> None:
        super().__init__(name="clock", daemon=True)
        self.url = url
        self.conversations = conversations
        self.stop = stop
        self.interval = interval
        self.random = random.Random(seed)
        self.shifted = 0
        self.failures = 0

    def run(self) -> None:
        connection: psycopg.Connection[Any] | None = None
        try:
            while not self.stop.wait(self.interval):
                try:
                    if connection is None or connection.closed:
                        connection = psycopg.connect(
                            self.url,
                            connect_timeout=2,
                            options="-c lock_timeout=2000 -c statement_timeout=5000",
                        )
                    self.shifted += self._shift(
                        connection, self.random.sample(self.conversations, 6)
                    )
                except psycopg.Error:
                    self.failures += 1  # a fault is going on: try again later
                    if connection is not None:
                        connection.close()
                    connection = None
        finally:
            if connection is not None:
                connection.close()

    def _shift(self, connection: psycopg.Connection[Any], candidates: list[UUID]) -> int:
        with connection.transaction():
            # Lock first; the next statement's snapshot then sees every log row written
            # before the lock, so after_log_id places the shift exactly in the trail.
            locked = [
                row[0]
                for row in connection.execute(
                    "select id from public.conversations"
                    " where id = any(%s) and ai_mode = 'paused' and paused_until is not null"
                    "   and paused_until > now() + interval '5 seconds'"
                    " order by id for update",
                    (candidates,),
                )
            ]
            if not locked:
                return 0
            cursor = connection.execute(
                "with moved as ("
                "  select c.id, c.paused_until - (now() + random() * interval '3 seconds')"
                "    as delta"
                "  from public.conversations c where c.id = any(%s)"
                "), shifted as ("
                "  update public.conversations c"
                "  set paused_at = c.paused_at - moved.delta,"
                "      paused_until = c.paused_until - moved.delta"
                "  from moved where c.id = moved.id"
                "  returning c.id, moved.delta"
                ")"
                " insert into reliability_clock_shifts (conversation_id, delta, after_log_id)"
                " select s.id, s.delta,"
                "   (select max(l.id) from public.ai_pause_logs l where l.conversation_id = s.id)"
                " from shifted s",
                (locked,),
            )
            return cursor.rowcount


CLOCK_TABLE = (
    "create table if not exists reliability_clock_shifts ("
    " id bigint generated always as identity primary key,"
    " conversation_id uuid not null, delta interval not null, after_log_id bigint)"
)


@dataclass
class SoakReport:
    settings: Settings
    elapsed_seconds: float
    results: Results
    faults: list[FaultWindow]
    audit_rows: Counter[str]
    violations: Counter[str]
    known: Counter[str]  # KNOWN_BUGS seen
    examples: list[Violation]
    latencies: list[float]
    fault_latencies: list[float]
    lost_rows: int
    duplicated_rows: int
    request_log: dict[str, int]
    expired_pauses: int
    server_pid_kept: bool
    late_503: float = 0.0  # the latest a 503 came after /health had recovered (seconds)
    late_503_count: int = 0
    # 503s outside every restart window (a kill's included): each one is a violation.
    unexplained_503: int = 0
    # What a Load beside the workers measured: rows of the leg's table, and its summary.
    figures: list[tuple[str, str]] = field(default_factory=list)
    headline: str = ""

    @property
    def ok(self) -> bool:
        return not self.violations

    def add(self, violation: Violation) -> None:
        """Count a violation (a known core bug apart), keeping the first few as examples."""
        if violation.kind in KNOWN_BUGS:
            self.known[violation.kind] += 1
            return
        self.violations[violation.kind] += 1
        if len(self.examples) < 20:
            self.examples.append(violation)

    def retries(self) -> Counter[str]:
        """Transitions answered 503 and sent again with their Idempotency-Key: how each
        ended."""
        ended: Counter[str] = Counter()
        for operation in self.results.operations:
            if len(operation.statuses) > 1:
                ended[str(operation.statuses[-1] or "no answer")] += 1
        return ended

    def status_counts(self) -> Counter[int]:
        return Counter(attempt.status for attempt in self.results.attempts)

    def by_function(self) -> Counter[str]:
        return Counter(attempt.function for attempt in self.results.attempts)

    def latency(self, fraction: float, during_faults: bool = False) -> float:
        return quantile(self.fault_latencies if during_faults else self.latencies, fraction)


def quantile(values: Sequence[float], fraction: float) -> float:
    """The value `fraction` of `values` lie below (to the percent; 0 for none, the largest
    for 1 or for a single value)."""
    if not values:
        return 0.0
    if fraction >= 1 or len(values) < 2:
        return max(values)
    return statistics.quantiles(values, n=100, method="inclusive")[int(fraction * 100) - 1]


class Load(Protocol):
    """Load beside the workers (another tenant's), with checks and figures of its own."""

    # Variables the function process needs for it.
    server_env: dict[str, str]

    def prepare(self, url: str) -> None:
        """Before the function process starts: its data."""

    def start(self, port: int, started: float) -> None:
        """Just before the workers start (at `started`, time.monotonic())."""

    def stop(self) -> None:
        """When the workers are told to stop."""

    def check(self, report: SoakReport) -> None:
        """After the soak's checks (the function process still up): its own, its figures."""


def run_soak(
    settings: Settings, postgres: EmbeddedPostgres, load: Load | None = None
) -> SoakReport:
    """Serve the functions on a fresh database of `postgres`, run the workers, the clock and
    the faults (and `load`) for `settings.seconds`, then check everything."""
    postgres.ensure_up()
    url = postgres.create_database()
    env = load.server_env if load is not None else {}
    try:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(CLOCK_TABLE)
        conversations = add_conversations(url, settings.conversations)
        if load is not None:
            load.prepare(url)
        if not settings.pooler:
            with ServerProcess(
                url, JWT_SECRET, db_timeout_seconds=settings.db_timeout_seconds, env=env
            ) as server:
                return _soak(settings, postgres, url, server, conversations, load=load)
        # The functions through PgBouncer; the clock, the faults and the checks directly.
        with (
            Bouncer(postgres.server_url) as bouncer,
            ServerProcess(
                bouncer.url(url),
                JWT_SECRET,
                db_timeout_seconds=settings.db_timeout_seconds,
                env=env,
            ) as server,
        ):
            return _soak(settings, postgres, url, server, conversations, bouncer, load)
    finally:
        postgres.ensure_up()
        postgres.drop_database(url)


def _soak(
    settings: Settings,
    postgres: EmbeddedPostgres,
    url: str,
    server: ServerProcess,
    conversations: list[UUID],
    bouncer: Bouncer | None = None,
    load: Load | None = None,
) -> SoakReport:
    tokens = Tokens(JWT_SECRET)
    pid = server.pid
    started = time.monotonic()
    if load is not None:
        load.start(server.port, started)
    stop = threading.Event()
    workers = [
        Worker(index, server.port, conversations, tokens, stop, settings.seed)
        for index in range(settings.workers)
    ]
    clock = Clock(url, conversations, stop, settings.clock_interval_seconds, settings.seed)
    faults = FaultInjector(postgres, url, server.port, settings, started, bouncer)
    for thread in [*workers, clock, faults]:
        thread.start()
    # The load runs for its time and, on a slow machine, until every planned fault is over:
    # a fault injected after the load stopped would prove nothing.
    time.sleep(settings.seconds)
    faults.join(faults.longest_seconds())
    stop.set()
    if load is not None:
        load.stop()
    join_by = time.monotonic() + settings.latency_bound_seconds + 35
    for thread in [*workers, clock, faults]:
        thread.join(max(0.1, join_by - time.monotonic()))
    elapsed = time.monotonic() - started

    results = Results(clock_shifts=clock.shifted)
    for worker in workers:
        if worker.is_alive():
            results.violations.append(Violation("worker did not stop", worker.name))
        results.attempts.extend(worker.results.attempts)
        results.operations.extend(worker.results.operations)
        results.violations.extend(worker.results.violations)
        results.sweeps.extend(worker.results.sweeps)
    results.violations.extend(faults.violations)
    if faults.is_alive():
        results.violations.append(Violation("fault injector did not stop", "past its limit"))

    postgres.ensure_up()
    if bouncer is not None:
        bouncer.ensure_up()
    swept_at = _final_sweep(server, tokens, url, results)
    report = _check(settings, url, results, faults.windows, swept_at, conversations)
    report.elapsed_seconds = elapsed
    report.server_pid_kept = server.alive() and server.pid == pid
    if not report.server_pid_kept:
        report.add(Violation("function process restarted or died", server.stderr()[-500:]))
    _check_request_log(report, server)
    if load is not None:
        load.check(report)
    return report


def _final_sweep(server: ServerProcess, tokens: Tokens, url: str, results: Results) -> datetime:
    """Run the cron until nothing is left to resume; the database time it started."""
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute("select now()").fetchone()
    assert row is not None
    swept_at: datetime = row[0]
    client = Client(server.port)
    try:
        for _ in range(20):
            answer = client.request(
                "POST", f"{V1}/auto-resume", token=tokens.service, body={"limit": 10000}
            )
            if answer.status != 200:
                results.violations.append(
                    Violation("final auto-resume failed", f"{answer.status} {answer.body}")
                )
                time.sleep(0.5)
                continue
            if not answer.body["resumed"]:
                break
    finally:
        client.close()
    return swept_at


Replies = dict[tuple[UUID, str], int | None]  # human-reply's message ids and their rows


def _load(
    url: str, conversations: list[UUID]
) -> tuple[dict[UUID, Conversation], dict[UUID, list[LogRow]], dict[UUID, list[Shift]], Replies]:
    with psycopg.connect(url, autocommit=True) as connection:
        states = {
            row[0]: Conversation(*row)
            for row in connection.execute(
                "select id, ai_mode::text, paused_at, paused_until, pause_duration_minutes"
                " from public.conversations where id = any(%s)",
                (conversations,),
            )
        }
        rows: dict[UUID, list[LogRow]] = {conversation: [] for conversation in conversations}
        for row in connection.execute(
            "select id, conversation_id, action::text, reason, duration_minutes, message_id,"
            " created_at from public.ai_pause_logs where conversation_id = any(%s) order by id",
            (conversations,),
        ):
            rows[row[1]].append(LogRow(*row))
        shifts: dict[UUID, list[Shift]] = {conversation: [] for conversation in conversations}
        for row in connection.execute(
            "select id, conversation_id, delta, after_log_id from reliability_clock_shifts"
        ):
            shifts[row[1]].append(Shift(*row))
        replies: Replies = {
            (row[0], row[1]): row[2]
            for row in connection.execute(
                "select conversation_id, message_id, event_id from takeover_private.human_replies"
            )
        }
    return states, rows, shifts, replies


def _check(
    settings: Settings,
    url: str,
    results: Results,
    windows: list[FaultWindow],
    swept_at: datetime,
    conversations: list[UUID],
) -> SoakReport:
    states, trails, shifts, replies = _load(url, conversations)
    report = SoakReport(
        settings=settings,
        elapsed_seconds=0.0,
        results=results,
        faults=windows,
        audit_rows=Counter(row.action for trail in trails.values() for row in trail),
        violations=Counter(),
        known=Counter(),
        examples=[],
        latencies=[attempt.seconds for attempt in results.attempts],
        fault_latencies=[],
        lost_rows=0,
        duplicated_rows=0,
        request_log={},
        expired_pauses=sum(1 for t in trails.values() for row in t if row.action == "auto_resume"),
        server_pid_kept=True,
    )
    for violation in results.violations:
        report.add(violation)

    # Answers: statuses, 503s only in restart windows and with Retry-After, bounded
    # latency. A kill leaves Postgres up: the functions send a call that found its
    # connection dead again, so a kill costs no 503. A request sent just after /health
    # recovered from a restart may still wait out a call begun in it: the window closes a
    # database timeout after the recovery.
    grace = settings.db_timeout_seconds
    restarts = [window for window in windows if window.is_restart]
    for attempt in results.attempts:
        during = any(
            window.started - 0.05 <= attempt.started + attempt.seconds
            and attempt.started <= window.recovered + grace
            for window in windows
        )
        in_restart = any(
            window.started - 0.05 <= attempt.started + attempt.seconds
            and attempt.started <= window.recovered + grace
            for window in restarts
        )
        if during:
            report.fault_latencies.append(attempt.seconds)
        inside = any(
            window.started - 0.05 <= attempt.started + attempt.seconds
            and attempt.started <= window.recovered
            for window in windows
        )
        if attempt.status == 503 and not inside:
            since = [
                attempt.started - w.recovered for w in windows if w.recovered < attempt.started
            ]
            if since:
                report.late_503 = max(report.late_503, min(since))
                report.late_503_count += 1
        if attempt.seconds > settings.latency_bound_seconds:
            report.add(Violation("answer slower than the bound", f"{attempt}"))
        if attempt.status == 503:
            if not attempt.retry_after:
                report.add(Violation("503 without Retry-After", f"{attempt}"))
            if not in_restart:
                report.unexplained_503 += 1
                kind = "503 from a connection kill" if during else "503 outside an injected fault"
                report.add(Violation(kind, f"{attempt}"))
        elif attempt.status >= 500:
            report.add(Violation(f"{attempt.status} answer", f"{attempt}"))
        elif attempt.status and attempt.status not in EXPECTED_STATUS[attempt.function]:
            report.add(Violation(f"unexpected {attempt.status}", f"{attempt}"))

    # Every event answered exists once, is the row its call wrote, and no refused call wrote.
    by_id = {row.id: row for trail in trails.values() for row in trail}
    by_tag: Counter[str] = Counter(
        row.reason for trail in trails.values() for row in trail if row.reason
    )
    for operation in results.operations:
        if operation.function == "human-reply":
            continue  # held against its message ids below
        expected_action = EVENT_ACTION.get(operation.function)
        for event_id in operation.event_ids:
            row = by_id.get(event_id)
            if row is None:
                report.lost_rows += 1
                report.add(Violation("answered event missing from the log", f"{operation}"))
            elif row.conversation_id != operation.conversation_id or row.action != expected_action:
                report.add(Violation("answered event is another row", f"{operation} {row}"))
            elif operation.function != "pause-status" and operation.known_event is None:
                if operation.message_id is not None and row.message_id != operation.message_id:
                    report.add(Violation("answered event is another row", f"{operation} {row}"))
                if operation.function != "interaction-gate" and row.reason != operation.tag:
                    report.add(Violation("answered event is another row", f"{operation} {row}"))
        if operation.function in TRANSITIONS or operation.function == "pause-logger POST":
            written = by_tag[operation.tag]
            if 200 in operation.statuses and operation.known_event is None and written != 1:
                if written == 0:
                    report.lost_rows += 1
                    report.add(
                        Violation("answered transition missing from the log", f"{operation}")
                    )
                else:
                    report.duplicated_rows += written - 1
                    report.add(Violation("transition written twice", f"{operation}"))
            elif 503 not in operation.statuses and 0 not in operation.statuses:
                if 200 not in operation.statuses and written:
                    report.add(Violation("refused call wrote a row", f"{operation}"))
            elif written > 1:
                report.duplicated_rows += written - 1
                report.add(Violation("retried transition written twice", f"{operation}"))
    tags = {operation.tag for operation in results.operations}
    for row in by_id.values():
        if (
            row.action in {"pause_activated", "extend_pause", "force_resume"}
            and row.reason not in tags
            and row.reason != HUMAN_REPLIED
        ):
            report.add(Violation("log row no call wrote", f"{row}"))
    _check_human_replies(report, results, by_id, replies)
    messages: Counter[tuple[UUID, str]] = Counter(
        (row.conversation_id, row.message_id) for row in by_id.values() if row.message_id
    )
    for key, count in messages.items():
        if count > 1:
            report.duplicated_rows += count - 1
            report.add(Violation("message blocked twice", f"{key}"))

    # The cron's answers: each conversation it says it resumed has that auto_resume row.
    for sent, got, resumed in results.sweeps:
        for conversation in resumed:
            if not any(
                row.action == "auto_resume" and sent - 1 <= row.created_at.timestamp() <= got + 1
                for row in trails[conversation]
            ):
                report.lost_rows += 1
                report.add(
                    Violation("auto-resume answered a resume not in the log", str(conversation))
                )

    # Each conversation is the replay of its log; a second auto_resume of one pause is a
    # duplicated row too.
    for conversation in conversations:
        for violation in replay(
            states[conversation], trails[conversation], shifts[conversation], swept_at
        ):
            if violation.kind == "auto_resume outside a pause":
                report.duplicated_rows += 1
            report.add(violation)
    return report


def _check_human_replies(
    report: SoakReport, results: Results, by_id: dict[int, LogRow], replies: Replies
) -> None:
    """Each row a human's reply wrote is recorded under one message id a worker sent, and
    each answered reply named the row its message id recorded (null: it changed nothing)."""
    sent = {
        (operation.conversation_id, operation.message_id)
        for operation in results.operations
        if operation.function == "human-reply"
    }
    recorded: Counter[int] = Counter(event for event in replies.values() if event is not None)
    for row in by_id.values():
        if row.reason != HUMAN_REPLIED:
            continue
        if row.action not in {"pause_activated", "extend_pause"} or recorded[row.id] != 1:
            report.add(Violation("a reply's row no message id recorded", f"{row}"))
    for key, event in replies.items():
        if key not in sent:
            report.add(Violation("a message id no worker sent", f"{key}"))
        elif event is not None and by_id.get(event) is None:
            report.lost_rows += 1
            report.add(Violation("a reply's recorded row missing", f"{key} {event}"))
    for operation in results.operations:
        if operation.function != "human-reply" or 200 not in operation.statuses:
            continue
        reply = (operation.conversation_id, operation.message_id or "")
        if reply not in replies:
            report.lost_rows += 1
            report.add(Violation("answered reply not recorded", f"{operation}"))
        elif operation.event_ids != {replies[reply]} - {None}:
            report.add(Violation("answered reply names another row", f"{operation}"))


def _check_request_log(report: SoakReport, server: ServerProcess) -> None:
    """The function process logs each request exactly once, with the status it answered."""
    per_id, statuses, _ = server.request_log()
    sent = [attempt for attempt in report.results.attempts if attempt.status]
    if not per_id:
        report.request_log = {"lines": 0}
        return
    lost = sum(1 for attempt in sent if per_id[attempt.request_id] == 0)
    duplicated = sum(
        per_id[attempt.request_id] - 1 for attempt in sent if per_id[attempt.request_id] > 1
    )
    wrong = sum(
        1
        for attempt in sent
        if per_id[attempt.request_id] and statuses[attempt.request_id] != attempt.status
    )
    report.request_log = {
        "lines": sum(per_id.values()),
        "lost": lost,
        "duplicated": duplicated,
        "wrong_status": wrong,
    }
    if lost:
        report.add(Violation("request log line lost", f"{lost} requests"))
    if duplicated:
        report.add(Violation("request log line duplicated", f"{duplicated} lines"))
    if wrong:
        report.add(Violation("request log line with another status", f"{wrong} lines"))
