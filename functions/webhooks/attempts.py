"""One attempt at one delivery: the signed POST, within its deadline, and what came of it."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from functions.shared.config import config
from functions.webhooks.signing import sign
from functions.webhooks.transport import deadline, drain
from functions.webhooks.url_policy import AddressNotAllowed, ResolutionTimeout, refused_by_its_form


@dataclass(frozen=True)
class Attempt:
    delivery_id: int
    status_code: int | None
    error: str | None

    @property
    def unanswered(self) -> bool:
        """No answer at all: the endpoint's batch ends and the endpoint backs off."""
        return self.status_code is None


def send(
    client: httpx.Client, endpoint: dict[str, Any], delivery: dict[str, Any], timeout: float
) -> Attempt:
    """POST the delivery to the endpoint, signed with its secret, within `timeout`."""
    url: str = endpoint["url"]
    body = json.dumps(
        {"type": delivery["type"], "timestamp": delivery["timestamp"], "data": delivery["data"]},
        separators=(",", ":"),
    )
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": delivery["webhook_id"],
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(endpoint["secret"], delivery["webhook_id"], timestamp, body),
    }
    parts = urlsplit(url)
    if not config().webhooks_allow_private_urls and parts.scheme != "https":
        # Nothing is sent, so nothing is looked up: the host's form alone names the refusal.
        refused = refused_by_its_form(parts.hostname or "")
        return Attempt(delivery["id"], None, "address_not_allowed" if refused else "https_required")
    # Every connection's addresses are checked when it is made (transport._PinnedBackend).
    try:
        with (
            deadline(timeout),
            client.stream("POST", url, content=body.encode(), headers=headers) as response,
        ):
            # The status line decides; the body is read only so the connection can be
            # kept, and never past the deadline.
            drain(response)
    except AddressNotAllowed:
        return Attempt(delivery["id"], None, "address_not_allowed")
    except (httpx.TimeoutException, ResolutionTimeout):
        return Attempt(delivery["id"], None, "timeout")
    except httpx.HTTPError as error:
        return Attempt(delivery["id"], None, f"connection_failed: {type(error).__name__}")
    except (OSError, UnicodeError):
        return Attempt(delivery["id"], None, "dns_failed")
    return Attempt(delivery["id"], response.status_code, None)
