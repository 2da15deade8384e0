"""The event types an endpoint may subscribe to (docs/api.md, Webhooks)."""

from __future__ import annotations

from typing import Literal, get_args

EventType = Literal[
    "takeover.pause_activated",
    "takeover.interaction_blocked",
    "takeover.auto_resume",
    "takeover.force_resume",
    "takeover.extend_pause",
    "takeover.pause_expiring",
]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)


def once_each(event_types: list[EventType] | None) -> list[EventType] | None:
    """A subscription is a set of types: each once, in the contract's order."""
    if event_types is None:
        return None
    return [event_type for event_type in EVENT_TYPES if event_type in event_types]
