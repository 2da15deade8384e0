"""Takeover's client: the AI agent's gate (fails closed) and check(), every other function
of Takeover, and webhook verification. Sync (`TakeoverClient`) and async
(`AsyncTakeoverClient`, from which the sync one is generated)."""

from takeover_client import _answers
from takeover_client._answers import *  # noqa: F403  (every answer type: _answers.__all__)
from takeover_client._async.client import AsyncTakeoverClient
from takeover_client._errors import TakeoverError, TakeoverUnavailable, UnreadableAnswer
from takeover_client._requests import UNSET
from takeover_client._sync.client import TakeoverClient
from takeover_client._tries import RetryPolicy
from takeover_client.webhooks import (
    EventType,
    WebhookEvent,
    WebhookVerificationError,
    verify_webhook,
)

__all__ = [
    *_answers.__all__,
    "UNSET",
    "AsyncTakeoverClient",
    "EventType",
    "RetryPolicy",
    "TakeoverClient",
    "TakeoverError",
    "TakeoverUnavailable",
    "UnreadableAnswer",
    "WebhookEvent",
    "WebhookVerificationError",
    "verify_webhook",
]
