"""Takeover's client: the AI agent's gate (fails closed), the product backend's pause calls,
and webhook verification. Sync (`TakeoverClient`) and async (`AsyncTakeoverClient`)."""

from takeover_client._async import AsyncTakeoverClient
from takeover_client._common import (
    UNSET,
    Decision,
    PauseState,
    RetryPolicy,
    TakeoverError,
    TakeoverUnavailable,
)
from takeover_client._sync import TakeoverClient
from takeover_client.webhooks import (
    EventType,
    WebhookEvent,
    WebhookVerificationError,
    verify_webhook,
)

__all__ = [
    "UNSET",
    "AsyncTakeoverClient",
    "Decision",
    "EventType",
    "PauseState",
    "RetryPolicy",
    "TakeoverClient",
    "TakeoverError",
    "TakeoverUnavailable",
    "WebhookEvent",
    "WebhookVerificationError",
    "verify_webhook",
]
