"""Measurement 11: the human side of takeover (issue 19), on the sweep's database (1M
conversations, 10% paused with timers ten years away).

- 11a: the gate on a paused conversation with a 2 KB draft (kept beside its log row) against
  the same gate without one, on one connection each, alternated.
- 11b: human-reply on an active conversation (it pauses it) against pause-activate on one,
  as the conversation's attendant, each call on a conversation not touched before.
- 11c: the sweep deleting 100,000 drafts past their retention (calls of limit 10,000)
  against the same calls with none to delete: Python's and the backend's memory per call,
  and the time per deleted draft; 11d: what the draft clean-up adds to a sweep that finds
  nothing (the whole sweep against its resume part alone, takeover_private.resume_expired).

    BENCH_ONLY=11 make bench      (alone: builds the sweep's database only)
"""

from __future__ import annotations

import itertools
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from bench import dataset
from bench.cases import (
    SWEEP_LIMIT,
    BackendMemory,
    _latency_details,
    backend_cpu,
    one_connection,
)
from bench.harness import (
    BackendCpu,
    Figure,
    Recorder,
    Sample,
    alternate,
    quick_from_environment,
    table,
)
from functions.database.postgres import PostgresDatabase

RUN = random.Random().getrandbits(32)
DRAFTS = 100_000
# An AI agent's reply of 2 KB: sentences in an order of their own, as text compresses.
_SENTENCES = (
    "Thanks for waiting while I checked your order.",
    "Your refund was approved and will reach your card within three business days.",
    "The tracking number is in the confirmation email we sent this morning.",
    "If the package does not arrive by Friday, reply here and we will send another one.",
    "You can also exchange the item for store credit from your account page.",
    "Is there anything else I can help you with today?",
)
DRAFT_2KB = " ".join(random.Random(19).choice(_SENTENCES) for _ in range(60))[:2048]


@dataclass
class _Standalone(Recorder):
    """What the measurement needs of a Bench when it runs alone (BENCH_ONLY=11)."""

    sweep: dataset.Built
    quick: bool
    figures: list[Figure] = field(default_factory=list)


def _conversations(url: str, condition: str, limit: int) -> list[tuple[UUID, UUID]]:
    """Up to `limit` conversations matching `condition`, at random (none the sweep
    measurement pauses), each with an attendant of its workspace."""
    with dataset.connect(url) as connection:
        rows = connection.execute(
            "select c.id, m.user_id from public.conversations c"
            " join lateral (select m.user_id from public.workspace_members m"
            "   where m.workspace_id = c.workspace_id and m.role = 'attendant' limit 1) m on true"
            f" where {condition} and not exists"
            "   (select 1 from bench.sweep_targets t where t.id = c.id)"
            " order by random() limit %s",
            (limit,),
        ).fetchall()
    return [(row[0], row[1]) for row in rows]


def _paired_rates(
    key: str,
    measurement: str,
    subject: Sample,
    baseline: Sample,
    baseline_label: str,
    target: str,
    details: dict[str, Any],
) -> Figure:
    """`subject`'s calls per second against `baseline`'s, each on a connection of its own,
    alternated. The ratio is the median of the rounds' ratios: each round of the subject ran
    right beside one of the baseline, so a burst of the machine's other work hits a pair,
    not one side."""
    return Figure(
        key=key,
        measurement=(
            f"{measurement}, PostgresDatabase on 1 connection (backend CPU {_cpu(subject)}"
            f" against {_cpu(baseline)} µs a call)"
        ),
        value=subject.rate,
        unit="calls/s",
        baseline=baseline.rate,
        baseline_label=f"{baseline_label}, same run; ratio: median of the rounds' ratios",
        ratio=statistics.median(
            mine / theirs for mine, theirs in zip(subject.rates, baseline.rates, strict=True)
        ),
        target=target,
        details={"ratio_of_medians": subject.rate / baseline.rate} | details,
    )


def _cpu(sample: Sample) -> str:
    cpu = sample.backend_cpu_us_per_call
    return "?" if cpu is None else f"{cpu:.0f}"


def _each_once(items: list[Any]) -> Callable[[], Any]:
    """The next item each call; running out is the benchmark's bug, said as such."""
    iterator: Iterator[Any] = iter(items)

    def take() -> Any:
        try:
            return next(iterator)
        except StopIteration:
            raise SystemExit("bench/human.py sampled too few conversations") from None

    return take


# ---------------------------------------------------------------------------------------
# 11a. The paused gate with a 2 KB draft
# ---------------------------------------------------------------------------------------


def gate_with_draft(bench: Any) -> None:
    url = bench.sweep.url
    paused = [c for c, _ in _conversations(url, "c.ai_mode = 'paused'", 5000)]
    messages = itertools.count()
    with_draft, without = one_connection(url), one_connection(url)

    def gate(database: PostgresDatabase, draft: str | None) -> Callable[[], object]:
        cycle = itertools.cycle(paused)

        def call() -> object:
            answer = database.call(
                "gate",
                {
                    "conversation_id": next(cycle),
                    "message_id": f"bench-{RUN}-{next(messages)}",
                    "agent_id": "ai_agent",
                    "draft": draft,
                },
            )
            if answer["allowed"]:
                raise SystemExit(f"the gate let a paused conversation through: {answer}")
            return answer

        return call

    try:
        samples = alternate(
            {"2 KB draft": gate(with_draft, DRAFT_2KB), "no draft": gate(without, None)},
            rounds=bench.rounds(24),
            calls_per_round=600,
            seconds_per_round=bench.seconds(0.25),
            warm_up_calls=1000,
            warm_up_seconds=bench.seconds(2.0),
            probes={"2 KB draft": backend_cpu(with_draft), "no draft": backend_cpu(without)},
        )
        with dataset.connect(url) as connection:
            kept = connection.execute(
                "select count(*), min(length(draft)) from public.blocked_drafts"
            ).fetchone()
            connection.execute("delete from public.blocked_drafts")
    finally:
        with_draft.close()
        without.close()
    subject, baseline = samples["2 KB draft"], samples["no draft"]
    bench.add(
        _paired_rates(
            key="11a",
            measurement="gate, paused conversation, with a 2 KB draft kept beside its log row",
            subject=subject,
            baseline=baseline,
            baseline_label="the same gate without a draft",
            target=">= 0.85",
            details={
                "drafts_kept": kept[0] if kept else None,
                "draft_characters": kept[1] if kept else None,
                "with_draft": _latency_details(subject),
                "without": _latency_details(baseline),
            },
        )
    )


# ---------------------------------------------------------------------------------------
# 11b. human-reply against pause-activate, each pausing an active conversation
# ---------------------------------------------------------------------------------------


def reply_vs_activate(bench: Any) -> None:
    url = bench.sweep.url
    rounds, per_round, warm_up = bench.rounds(20), 300, 400
    needed = rounds * per_round + warm_up
    sampled = _conversations(url, "c.ai_mode = 'active'", 2 * needed)
    replying, activating = _each_once(sampled[:needed]), _each_once(sampled[needed:])
    messages = itertools.count()
    replies, activations = one_connection(url), one_connection(url)

    def reply() -> object:
        conversation, attendant = replying()
        answer = replies.call(
            "human_reply",
            {
                "conversation_id": conversation,
                "caller": attendant,
                "message_id": f"wamid-{RUN}-{next(messages)}",
                "triggered_by": None,
            },
        )
        if not answer["changed"]:
            raise SystemExit(f"human-reply did not pause an active conversation: {answer}")
        return answer

    def activate() -> object:
        conversation, attendant = activating()
        answer = activations.call(
            "activate",
            {
                "conversation_id": conversation,
                "caller": attendant,
                "duration_minutes": None,
                "use_default": True,
                "reason": None,
                "triggered_by": None,
                "agent_id": None,
                "idempotency_key": None,
                "request_hash": None,
            },
        )
        if answer["ai_mode"] != "paused":
            raise SystemExit(f"pause-activate did not pause an active conversation: {answer}")
        return answer

    try:
        samples = alternate(
            {"human-reply": reply, "pause-activate": activate},
            rounds=rounds,
            calls_per_round=per_round,
            seconds_per_round=bench.seconds(0.5),
            warm_up_calls=warm_up // 2,
            warm_up_seconds=bench.seconds(2.0),
            probes={
                "human-reply": backend_cpu(replies),
                "pause-activate": backend_cpu(activations),
            },
        )
    finally:
        replies.close()
        activations.close()
        _resume(url, [conversation for conversation, _ in sampled])
    subject, baseline = samples["human-reply"], samples["pause-activate"]
    bench.add(
        _paired_rates(
            key="11b",
            measurement=(
                "human-reply on an active conversation (with a message_id: it pauses it),"
                " as its attendant"
            ),
            subject=subject,
            baseline=baseline,
            baseline_label="pause-activate on an active conversation",
            target=">= 0.9",
            details={
                "human_reply": _latency_details(subject),
                "pause_activate": _latency_details(baseline),
            },
        )
    )


def _resume(url: str, conversations: list[UUID]) -> None:
    """Hand the sampled conversations back (with their force_resume rows), for the next run."""
    with dataset.connect(url) as connection:
        connection.execute(
            """
            with ended as (
              update public.conversations c
              set ai_mode = 'active', paused_at = null, paused_until = null, paused_by = null,
                  pause_duration_minutes = null
              from (select unnest(%s::uuid[]) as id) s
              where c.id = s.id and c.ai_mode = 'paused'
              returning c.id
            )
            insert into public.ai_pause_logs (conversation_id, action, reason, triggered_by,
                                              previous_ai_mode, new_ai_mode)
            select id, 'force_resume', 'bench', 'service', 'paused', 'active' from ended
            """,
            (conversations,),
        )
        connection.execute("delete from takeover_private.human_replies")


# ---------------------------------------------------------------------------------------
# 11c, 11d. The sweep's draft clean-up
# ---------------------------------------------------------------------------------------


def _draft_targets(url: str) -> None:
    """100,000 interaction_blocked rows (two on each indefinitely paused conversation) for
    the drafts to belong to: written once, kept by later runs (the log is append-only)."""
    with dataset.connect(url) as connection:
        connection.execute(
            "create table if not exists bench.draft_targets (event_id bigint primary key,"
            " conversation_id uuid not null, workspace_id uuid not null)"
        )
        present = connection.execute("select count(*) from bench.draft_targets").fetchone()
        if present and present[0] >= DRAFTS:
            return
        connection.execute("delete from bench.draft_targets")
        connection.execute(
            """
            with written as (
              insert into public.ai_pause_logs (conversation_id, action, duration_minutes,
                  triggered_by, previous_ai_mode, new_ai_mode, message_id)
              select c.id, 'interaction_blocked', null, 'ai_agent', 'paused', 'paused',
                     'bench-draft-' || n || '-' || c.id
              from (select id from public.conversations
                    where ai_mode = 'paused' and paused_until is null
                    order by id limit %(half)s) c,
                   generate_series(1, 2) n
              returning id, conversation_id, workspace_id
            )
            insert into bench.draft_targets select * from written
            """,
            {"half": DRAFTS // 2},
        )
        connection.execute("analyze bench.draft_targets")


def _keep_drafts(url: str, age: str) -> None:
    """The 100,000 drafts, written `age` ago."""
    with dataset.connect(url) as connection:
        connection.execute("delete from public.blocked_drafts")
        connection.execute(
            "insert into public.blocked_drafts (conversation_id, event_id, workspace_id,"
            " agent_id, message_id, draft, created_at)"
            " select t.conversation_id, t.event_id, t.workspace_id, 'ai_agent', null, %s,"
            "   now() - %s::interval from bench.draft_targets t",
            (DRAFT_2KB, age),
        )
        connection.execute("vacuum (analyze) public.blocked_drafts")


@dataclass
class _Call:
    deleted: int
    seconds: float
    python_peak_kib: int
    backend_peak_kib: int | None


def _sweep_calls(
    database: PostgresDatabase, pid: int, until_empty: bool, calls: int
) -> list[_Call]:
    """Sweeps of limit 10,000 (at most `calls`; with `until_empty`, until one deletes
    nothing), each with its memory: Python's peak and the backend's private memory."""
    measured: list[_Call] = []
    tracemalloc.start()
    try:
        for _ in range(calls):
            tracemalloc.reset_peak()
            memory = BackendMemory(pid)
            memory.start()
            started = time.perf_counter()
            answer = database.call("sweep", {"limit": SWEEP_LIMIT, "draft_retention_hours": 24})
            elapsed = time.perf_counter() - started
            backend = memory.stop()
            deleted = int(answer["drafts_deleted"])
            del answer
            if until_empty and deleted == 0:
                break
            python_peak = tracemalloc.get_traced_memory()[1]
            measured.append(_Call(deleted, elapsed, round(python_peak / 1024), backend))
    finally:
        tracemalloc.stop()
    return measured


def sweep_drafts(bench: Any) -> None:
    url = bench.sweep.url
    _draft_targets(url)
    _keep_drafts(url, "1 hour")  # kept, none due: the clean-up finds nothing
    # The resume part is private (no API role may call it): both statements as the owner,
    # on one plain connection, the same way.
    with dataset.connect(url) as connection:
        row = connection.execute("select pg_backend_pid()").fetchone()
        assert row is not None
        owner_probe = BackendCpu(int(row[0]))

        def statement(text: str) -> Callable[[], object]:
            def call() -> object:
                return connection.execute(text, (SWEEP_LIMIT,)).fetchone()

            return call

        idle = alternate(
            {
                "sweep": statement("select public.takeover_sweep(%s, 24)::text"),
                "resume part": statement("select takeover_private.resume_expired(%s)::text"),
            },
            rounds=bench.rounds(8),
            calls_per_round=300,
            seconds_per_round=bench.seconds(0.5),
            warm_up_calls=100,
            probes={"sweep": owner_probe, "resume part": owner_probe},
        )
    _keep_drafts(url, "25 hours")  # now every one is past DRAFT_RETENTION_HOURS
    database = one_connection(url)
    pid = backend_cpu(database).pid
    try:
        deleting = _sweep_calls(database, pid, until_empty=True, calls=DRAFTS // 1000)
        # The same calls once none is left, on the same (as warm) connection.
        nothing_due = _sweep_calls(database, pid, until_empty=False, calls=5)
    finally:
        database.close()
    deleted = sum(call.deleted for call in deleting)
    seconds = sum(call.seconds for call in deleting)
    baseline_seconds = sum(call.seconds for call in nothing_due) / len(nothing_due)
    backend_peaks = [call.backend_peak_kib for call in deleting if call.backend_peak_kib]
    backend_idle = [call.backend_peak_kib for call in nothing_due if call.backend_peak_kib]
    python_peaks = [call.python_peak_kib for call in deleting]
    python_idle = [call.python_peak_kib for call in nothing_due]
    details = {
        "deleting_calls": [call.__dict__ for call in deleting],
        "nothing_due_calls": [call.__dict__ for call in nothing_due],
        "python_ratio": max(python_peaks) / max(python_idle),
        # Flat from the first deleting call to the last: bounded by the limit.
        "backend_growth": max(backend_peaks) / backend_peaks[0] if backend_peaks else None,
    }
    bench.add(
        Figure(
            key="11c",
            measurement=(
                f"sweep deleting {deleted:,} drafts past their retention, {len(deleting)} calls"
                f" of limit {SWEEP_LIMIT:,}, time per deleted draft (over the same call with"
                f" none due, {baseline_seconds * 1000:.1f} ms)"
            ),
            value=(seconds - baseline_seconds * len(deleting)) / deleted * 1e6,
            unit="µs",
            details=details,
        )
    )
    bench.add(
        Figure(
            key="11c'",
            measurement=(
                "sweep memory per call deleting 10,000 drafts: Postgres backend private memory"
                f" (RssAnon) peak; Python peak {max(python_peaks):,} KiB against"
                f" {max(python_idle):,} KiB"
            ),
            value=max(backend_peaks) if backend_peaks else float("nan"),
            unit="KiB",
            baseline=max(backend_idle) if backend_idle else None,
            baseline_label="the same calls with none due",
            target="<= 1.2",
            details=details,
        )
    )
    subject, baseline = idle["sweep"], idle["resume part"]
    added = subject.percentile_ms(50) - baseline.percentile_ms(50)
    bench.add(
        Figure(
            key="11d",
            measurement=(
                f"what the draft clean-up adds to a sweep with nothing due over"
                f" {bench.sweep.conversations:,} conversations and {DRAFTS:,} kept drafts: p50"
                f" {subject.percentile_ms(50):.3f} ms against the resume part alone"
            ),
            value=added,
            unit="ms",
            baseline=baseline.percentile_ms(50),
            baseline_label="takeover_private.resume_expired alone, p50",
            ratio=subject.percentile_ms(50) / baseline.percentile_ms(50),
            target="< 1",
            target_on="value",
            details={"sweep": _latency_details(subject), "resume_part": _latency_details(baseline)},
        ),
    )
    with dataset.connect(url) as connection:
        connection.execute("delete from public.blocked_drafts")


def human(bench: Any) -> None:
    """make bench's measurement 11."""
    print("11. human side: the gate's draft, human-reply, the sweep's draft clean-up", flush=True)
    gate_with_draft(bench)
    reply_vs_activate(bench)
    sweep_drafts(bench)


def main() -> None:
    """`BENCH_ONLY=11 make bench`: this measurement alone, on the sweep's database."""
    server, source = dataset.server_url()
    print(f"Takeover human-side benchmarks, Postgres: {source}", flush=True)
    began = time.perf_counter()
    built = dataset.ensure_sweep(server)
    built.announce(began, f"{built.conversations:,} conversations")
    bench = _Standalone(sweep=built, quick=quick_from_environment())
    human(bench)
    print()
    print(table(bench.figures))
