"""Endpoint secrets and the webhook-signature header (Standard Webhooks)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
_SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def sign(secret: str, webhook_id: str, timestamp: int, body: str) -> str:
    """The webhook-signature header: `v1,` + base64(HMAC-SHA256(key, id.timestamp.body)),
    the key being the base64 after `whsec_`. An empty key signs nothing: anyone could forge
    what it signs."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    if not key:
        raise ValueError("an empty signing key")
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()
