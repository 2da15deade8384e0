"""What an endpoint may subscribe to, and what each delivery's body holds (docs/api.md,
Webhooks): one event type per action of the log, and the expiry notice. The types come from
the Action enum, as the database's do from its ai_pause_action
(public.takeover_webhook_event_types): one list, not three."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Literal
from uuid import UUID

from pydantic import Field, create_model

from functions.shared.models import Action, AiMode, Answer, Event, PauseState, UtcDatetime

PAUSE_EXPIRING = "takeover.pause_expiring"
LOG_EVENT_TYPES = tuple(f"takeover.{action.value}" for action in Action)
EVENT_TYPES = (*LOG_EVENT_TYPES, PAUSE_EXPIRING)

if TYPE_CHECKING:  # the checker cannot read a Literal built at run time; pydantic can
    EventType = str
else:
    EventType = Literal[EVENT_TYPES]


def once_each(event_types: list[EventType] | None) -> list[EventType] | None:
    """A subscription is a set of types: each once, in the contract's order."""
    if event_types is None:
        return None
    return [event_type for event_type in EVENT_TYPES if event_type in event_types]


class LogEventData(Event):
    """A log event's data: the event as pause-logger shows it, where it happened, and the
    conversation as the event left it."""

    workspace_id: UUID
    team_id: UUID | None = Field(description="The conversation's team when the event is sent.")
    ai_mode: AiMode = Field(description="The conversation's mode right after the event.")
    paused_until: UtcDatetime | None = Field(
        description="When the pause ends, right after the event; null: indefinite, or active."
    )


class ExpiringData(PauseState):
    """A pause_expiring notice's data: the pause state as it is when sent."""

    workspace_id: UUID
    team_id: UUID | None
    expires_in_seconds: int = Field(ge=0, description="Until paused_until, when sent.")


class Webhook(Answer):
    """The body of every delivery (Standard Webhooks): the event's type, when it happened,
    and its data. The headers webhook-id, webhook-timestamp and webhook-signature come with
    it."""

    type: EventType
    timestamp: UtcDatetime = Field(
        description="When the event happened (a notice: when it was queued)."
    )
    data: LogEventData | ExpiringData


@cache
def payload_models() -> dict[str, type[Webhook]]:
    """One body model per event type, for the OpenAPI document's `webhooks`."""
    models: dict[str, type[Webhook]] = {}
    for event_type in EVENT_TYPES:
        data = ExpiringData if event_type == PAUSE_EXPIRING else LogEventData
        name = "".join(part.title() for part in event_type.removeprefix("takeover.").split("_"))
        models[event_type] = create_model(
            f"{name}Webhook",
            __base__=Webhook,
            __doc__=f"The body of a {event_type} delivery.",
            type=(Literal[event_type], ...),  # type: ignore[arg-type]  # a value-built Literal
            data=(data, ...),
        )
    return models
