"""Replaying a conversation's audit trail: the state it implies must be the state it has.

The log is the truth of what happened: pause_activated starts a pause of its duration,
extend_pause adds minutes (or makes it indefinite), auto_resume and force_resume end it. A
human's reply (reason human_replied) extends differently: its duration_minutes is the
default, and the pause then ends that long after the row, rounded up to the pause's next
whole minute.
The harness's clock shifts (pauses moved into the past, so they expire during a short run)
are replayed where they happened: after the log row that was the last one when they ran.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

HUMAN_REPLIED = "human_replied"  # the reason of the rows human-reply writes


@dataclass(frozen=True)
class LogRow:
    id: int
    conversation_id: UUID
    action: str
    reason: str | None
    duration_minutes: int | None
    message_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class Shift:
    id: int
    conversation_id: UUID
    delta: timedelta  # how far paused_at and paused_until were moved back
    after_log_id: int | None


@dataclass(frozen=True)
class Conversation:
    id: UUID
    ai_mode: str
    paused_at: datetime | None
    paused_until: datetime | None
    pause_duration_minutes: int | None


@dataclass(frozen=True)
class Violation:
    kind: str
    detail: str


@dataclass
class _Pause:
    paused_at: datetime
    duration: int | None

    @property
    def until(self) -> datetime | None:
        if self.duration is None:
            return None
        return self.paused_at + timedelta(minutes=self.duration)


def replay(
    conversation: Conversation,
    rows: Sequence[LogRow],
    shifts: Sequence[Shift],
    swept_at: datetime,
) -> list[Violation]:
    """Every way the trail of one conversation contradicts itself or its current state.
    `swept_at`: when the final auto-resume ran; a pause over by then must have ended."""
    found: list[Violation] = []
    where = f"conversation {conversation.id}"

    def violation(kind: str, row: LogRow | None, detail: str = "") -> None:
        at = f" at log row {row.id}" if row is not None else ""
        found.append(Violation(kind, f"{where}{at}{': ' if detail else ''}{detail}"))

    pause: _Pause | None = None
    for item in _in_order(rows, shifts):
        if isinstance(item, Shift):
            if pause is None or pause.duration is None:
                violation("clock shift outside a timed pause (harness)", None, str(item))
            else:
                pause.paused_at -= item.delta
            continue
        row = item
        until = pause.until if pause is not None else None
        if row.action == "pause_activated":
            if pause is not None:
                violation("pause_activated while paused", row)
            pause = _Pause(row.created_at, row.duration_minutes)
            continue
        if pause is None:
            violation(f"{row.action} outside a pause", row)
            continue
        if row.action == "auto_resume":
            if until is None:
                violation("auto_resume of an indefinite pause", row)
            elif row.created_at < until:
                violation("auto_resume before the timer ran out", row, f"until {until}")
        elif until is not None and until <= row.created_at:
            # Lazy expiry: whatever touches an expired pause writes its auto_resume first.
            violation(f"{row.action} after the timer ran out", row, f"until {until}")
        resumes_or_blocks = {"auto_resume", "force_resume", "interaction_blocked"}
        if row.action in resumes_or_blocks and row.duration_minutes != pause.duration:
            violation(
                f"{row.action} logs another duration than the pause's",
                row,
                f"{row.duration_minutes} != {pause.duration}",
            )
        if row.action == "extend_pause":
            if pause.duration is None:
                violation("extend_pause of an indefinite pause", row)
            elif row.duration_minutes is None:
                pause.duration = None
            elif row.reason == HUMAN_REPLIED:
                wanted = row.created_at + timedelta(minutes=row.duration_minutes)
                if until is not None and until >= wanted:
                    violation("a reply extended a pause that ended later already", row)
                pause.duration = math.ceil((wanted - pause.paused_at) / timedelta(minutes=1))
            else:
                pause.duration += row.duration_minutes
        elif row.action in {"auto_resume", "force_resume"}:
            pause = None

    # The state the trail leads to is the conversation's.
    if pause is None:
        if conversation.ai_mode != "active" or conversation.paused_at is not None:
            violation(
                "state differs from the replayed log", None, f"active expected: {conversation}"
            )
        return found
    expected = (pause.paused_at, pause.until, pause.duration)
    actual = (
        conversation.paused_at,
        conversation.paused_until,
        conversation.pause_duration_minutes,
    )
    if conversation.ai_mode != "paused" or expected != actual:
        violation("state differs from the replayed log", None, f"{expected} != {conversation}")
    elif pause.until is not None and pause.until <= swept_at:
        violation("expired pause still paused after auto-resume", None, f"until {pause.until}")
    return found


def _in_order(rows: Iterable[LogRow], shifts: Iterable[Shift]) -> list[LogRow | Shift]:
    """Log rows by id, each shift right after the row that was the last when it ran."""
    after: dict[int | None, list[Shift]] = {}
    for shift in sorted(shifts, key=lambda s: s.id):
        after.setdefault(shift.after_log_id, []).append(shift)
    ordered: list[LogRow | Shift] = list(after.pop(None, []))
    for row in sorted(rows, key=lambda r: r.id):
        ordered.append(row)
        ordered.extend(after.pop(row.id, []))
    for orphans in after.values():  # a shift after a row of another conversation: a bug
        ordered.extend(orphans)
    return ordered
