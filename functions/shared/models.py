"""The lifecycle's words, and the shapes every function reads and answers.

The states and actions mirror the enums of supabase/migrations/*_takeover_core.sql.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
    WithJsonSchema,
)


class AiMode(StrEnum):
    ACTIVE = "active"  # the AI agent answers the customer
    PAUSED = "paused"  # a human attendant has taken the conversation over


class Action(StrEnum):
    PAUSE_ACTIVATED = "pause_activated"  # active -> paused
    INTERACTION_BLOCKED = "interaction_blocked"  # paused -> paused, an AI send refused
    AUTO_RESUME = "auto_resume"  # paused -> active, the timer ran out
    FORCE_RESUME = "force_resume"  # paused -> active, the attendant handed back
    EXTEND_PAUSE = "extend_pause"  # paused -> paused, more time (or indefinite)


DURATIONS = (15, 30, 60, 120)


def _is_duration(minutes: int) -> int:
    if minutes not in DURATIONS:
        raise ValueError(f"must be one of {', '.join(map(str, DURATIONS))}, or null for indefinite")
    return minutes


# The durations an attendant can pick; None is an indefinite pause. A strict int: a Literal
# would let 30.0 through.
Duration = Annotated[
    int,
    Strict(),
    AfterValidator(_is_duration),
    WithJsonSchema({"type": "integer", "enum": list(DURATIONS)}),
]


def _to_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError as error:  # year 1 or 9999 with an offset: no such UTC time
        raise ValueError("the time is out of range in UTC") from error


def _iso_utc(moment: datetime) -> str:
    # isoformat, not strftime: %Y writes year 1 as "1", which is not ISO 8601.
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


# Answers are in UTC with microseconds, as the database writes them (takeover_private.utc), four
# digits of year always (0001-01-01T00:00:00.000000Z); a query time without an offset is
# read as UTC.
UtcDatetime = Annotated[
    datetime,
    AfterValidator(_to_utc),
    PlainSerializer(_iso_utc, return_type=str, when_used="json"),
]


def _from_iso(value: object) -> object:
    # Query times are ISO 8601 strings only: pydantic would read "1700000000" as a Unix time.
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError as error:
            raise ValueError("must be an ISO 8601 date-time") from error
    return value


# A time in a query string: ISO 8601, in UTC when it has no offset.
IsoDatetime = Annotated[UtcDatetime, BeforeValidator(_from_iso)]
Reason = Annotated[str, StringConstraints(max_length=500)]
MessageId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# What the log writes as triggered_by for the timer (auto_resume) and for a service call
# that names no attendant: never an agent.
RESERVED_ACTORS = ("system", "service")


def _not_another_actor(agent_id: str) -> str:
    # triggered_by holds every actor in one column: an agent id must read as nobody else
    # there, whatever the case ("System"), nor as an attendant (a uuid, in any of its forms).
    if agent_id.lower() in RESERVED_ACTORS:
        raise ValueError(f"'{agent_id}' is reserved: the log's word for the timer or the service")
    try:
        UUID(agent_id)
    except ValueError:
        return agent_id
    raise ValueError("must not be a uuid: a uuid in triggered_by is an attendant")


# The agent's identifier, written as triggered_by of its rows: printable ASCII (no look-alike
# letters, no invisible ones), no space at either end, not a reserved name nor a uuid.
AgentId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[!-~]([ -~]*[!-~])?$"),
    AfterValidator(_not_another_actor),
]


class Request(BaseModel):
    """A request body or query: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


# The fields of takeover_private.log_events' event but the workspace and the pause's end, which
# the webhooks and the export add (tests/test_shapes.py compares the two).
class Event(Answer):
    id: int
    conversation_id: UUID
    action: Action
    reason: str | None
    duration_minutes: int | None
    triggered_by: str
    previous_ai_mode: AiMode
    new_ai_mode: AiMode
    message_id: str | None
    created_at: UtcDatetime


class PauseState(Answer):
    conversation_id: UUID
    ai_mode: AiMode
    paused_at: UtcDatetime | None
    paused_until: UtcDatetime | None = Field(
        description="When the AI returns by itself; null while active or when indefinite."
    )
    paused_by: UUID | None
    duration_minutes: int | None = Field(
        description="The pause's configured length (activation plus extensions); null = indefinite."
    )
    default_duration_minutes: Duration | None = Field(
        description="The conversation's effective default (team override, else workspace)."
    )
    event_id: int | None = Field(description="The ai_pause_logs row this call wrote, if any.")


@dataclass(frozen=True)
class Idempotency:
    """The Idempotency-Key a caller sent, and a hash of the request it stands for (the
    function and the fields sent): the database keeps the first answer under the key."""

    key: str
    request_hash: str


@dataclass(frozen=True)
class CallOptions:
    """How the database may run one lifecycle call.

    retry_safe: running it twice does no harm (a read; a write the database dedupes by
    message_id or Idempotency-Key), so a call whose pooled connection died under it may be
    sent again (at most twice) instead of answering 503. A call that provably was not sent,
    or not applied, goes again whatever this says.

    heavy: a heavy read, whose cost grows with a workspace's log (a report, a listing of the
    log, the audit export). It runs on its own few connections, never one the gate and the
    transitions need, under its own statement timeout (docs/reliability.md, Heavy reads).

    idempotency: the caller's Idempotency-Key, for a transition that keeps its first answer
    under it."""

    retry_safe: bool = False
    heavy: bool = False
    idempotency: Idempotency | None = None

    def as_heavy_read(self) -> CallOptions:
        return replace(self, heavy=True)


# A call sent once, on the gate's and the transitions' connections.
ONCE = CallOptions()
# A read, or a write the database dedupes: sent again when its connection died under it.
RETRY_SAFE = CallOptions(retry_safe=True)
