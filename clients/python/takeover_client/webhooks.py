"""Verify a Standard Webhooks delivery from Takeover (no dependency beyond the stdlib)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

EventType = Literal[
    "takeover.pause_activated",
    "takeover.interaction_blocked",
    "takeover.auto_resume",
    "takeover.force_resume",
    "takeover.extend_pause",
    "takeover.pause_expiring",
]
EVENT_TYPES: frozenset[str] = frozenset(EventType.__args__)  # type: ignore[attr-defined]
TOLERANCE_SECONDS = 5 * 60


class WebhookVerificationError(Exception):
    """The delivery is not one Takeover signed with this secret, or it is too old/new."""


@dataclass(frozen=True)
class WebhookEvent:
    webhook_id: str  # stable across retries: deduplicate on it
    type: EventType
    timestamp: str  # when the event happened (ISO 8601, UTC)
    data: Mapping[str, Any]


def verify_webhook(
    secret: str,
    body: bytes | str,
    headers: Mapping[str, str],
    *,
    tolerance_seconds: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> WebhookEvent:
    """The event, when `body` and `headers` are a delivery signed with `secret` (`whsec_...`)
    within `tolerance_seconds` of now; else WebhookVerificationError. An empty secret (say,
    an unset variable) verifies nothing: anyone could sign with it."""
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError) as error:
        raise WebhookVerificationError("the secret is not whsec_ + base64") from error
    if not key:
        raise WebhookVerificationError("the secret is empty")
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        webhook_id = lowered["webhook-id"]
        timestamp_text = lowered["webhook-timestamp"]
        signatures = lowered["webhook-signature"]
    except KeyError as error:
        raise WebhookVerificationError(f"missing header {error.args[0]}") from error
    # compare_digest raises TypeError on a non-ASCII str, and int() reads non-ASCII digits.
    if not (webhook_id + timestamp_text + signatures).isascii():
        raise WebhookVerificationError("a webhook header is not ASCII")
    try:
        timestamp = int(timestamp_text)
    except ValueError as error:
        raise WebhookVerificationError("webhook-timestamp is not a number") from error
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance")
    raw = body if isinstance(body, bytes) else body.encode()
    signed = f"{webhook_id}.{timestamp}.".encode() + raw
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in signatures.split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            break
    else:
        raise WebhookVerificationError("no signature matches")
    try:
        payload = json.loads(raw)
        event_type, event_time, data = payload["type"], payload["timestamp"], payload["data"]
    except (ValueError, KeyError, TypeError) as error:
        raise WebhookVerificationError("the body is not a Takeover event") from error
    if event_type not in EVENT_TYPES or not isinstance(data, dict):
        raise WebhookVerificationError(f"unknown event type {event_type!r}")
    return WebhookEvent(webhook_id, event_type, str(event_time), data)
