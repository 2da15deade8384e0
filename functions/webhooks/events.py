"""The event types an endpoint may subscribe to (docs/contract-notes.md, Webhooks)."""

from __future__ import annotations

from typing import Literal

EventType = Literal[
    "takeover.pause_activated",
    "takeover.interaction_blocked",
    "takeover.auto_resume",
    "takeover.force_resume",
    "takeover.extend_pause",
    "takeover.pause_expiring",
]
