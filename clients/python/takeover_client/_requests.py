"""What a request is, shared by the sync and the async client: the operations, where each
function is, its headers and its fields."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from takeover_client._errors import TakeoverError

Id = str | UUID


@dataclass(frozen=True)
class Operation:
    """One method of one of Takeover's functions."""

    method: Literal["GET", "POST", "PUT", "DELETE"]
    function: str
    # Retried after a failure that may have acted: the server acts once, or answers the same.
    retry: bool = True
    # Retried only when the body has this field: the server writes one row per value of it
    # (as the server's Route.deduped_by).
    deduped_by: str | None = None
    # One Idempotency-Key across the tries of a call: a repeat gets the first answer.
    idempotency_key: bool = False


# Every operation of Takeover's functions; tests/test_client.py checks them against the
# OpenAPI document, and that a method of each client calls each.
GATE = Operation("POST", "interaction-gate")
RECORD_BLOCKED = Operation("POST", "pause-logger", deduped_by="message_id")
PAUSE = Operation("POST", "pause-activate", idempotency_key=True)
EXTEND = Operation("POST", "pause-extend", idempotency_key=True)
RESUME = Operation("POST", "pause-resume", idempotency_key=True)
HUMAN_REPLY = Operation("POST", "human-reply", deduped_by="message_id")
STATUS = Operation("GET", "pause-status")
EVENTS = Operation("GET", "pause-logger")
SETTINGS = Operation("GET", "pause-settings")
CHANGE_SETTINGS = Operation("PUT", "pause-settings")
REPORT = Operation("GET", "pause-report")
AUTO_RESUME = Operation("POST", "auto-resume")
WEBHOOK_ENDPOINTS = Operation("GET", "webhook-endpoints")
# A retry could subscribe the URL twice.
CREATE_WEBHOOK_ENDPOINT = Operation("POST", "webhook-endpoints", retry=False)
CHANGE_WEBHOOK_ENDPOINT = Operation("PUT", "webhook-endpoints")
# A retry after the delete went through would answer 404.
DELETE_WEBHOOK_ENDPOINT = Operation("DELETE", "webhook-endpoints", retry=False)
DISPATCH_WEBHOOKS = Operation("POST", "webhook-dispatch")
EXPORT_AUDIT_LOG = Operation("POST", "audit-export")


class Urls:
    """Where each function is. One of:
    - a project's base URL (`https://<ref>.supabase.co`, `make run`'s
      `http://127.0.0.1:54321`, the container's): `<base>/functions/v1/<name>`;
    - a template with `{name}` (`pause-activate`) or `{target}` (`pause_activate`), for one
      URL per function: `https://REGION-PROJECT.cloudfunctions.net/{name}`;
    - a mapping from function name (`interaction-gate`) to its URL."""

    def __init__(self, where: str | Mapping[str, str]) -> None:
        if isinstance(where, str) and "{" in where:
            if "{name}" not in where and "{target}" not in where:
                raise ValueError(f"{where!r}: a template takes {{name}} or {{target}}")
            try:
                where.format(name="name", target="target")
            except (KeyError, IndexError, ValueError) as error:
                raise ValueError(
                    f"{where!r}: a template takes only {{name}} or {{target}}"
                ) from error
        self._where = where

    def describe(self, function: str) -> str:
        """The function's URL, or what stands in for one, for messages: never raises."""
        try:
            return self(function)
        except TakeoverError:
            return f"(no URL for {function})"

    def __call__(self, function: str) -> str:
        where = self._where
        if not isinstance(where, str):
            if function not in where:
                raise TakeoverError(0, "no_url", f"The client's URLs name no {function}.")
            return where[function]
        if "{" in where:
            return where.format(name=function, target=function.replace("-", "_"))
        return f"{where.rstrip('/')}/functions/v1/{function}"


def auth_headers(service_key: str) -> dict[str, str]:
    """A JWT goes as a bearer token; Supabase's opaque `sb_secret_...` keys also as apikey."""
    headers = {"Authorization": f"Bearer {service_key}"}
    if service_key.startswith("sb_"):
        headers["apikey"] = service_key
    return headers


def request_headers(auth: Mapping[str, str], operation: Operation) -> dict[str, str]:
    """A call's headers, the same for each of its tries."""
    headers = dict(auth)
    if operation.idempotency_key:
        headers["Idempotency-Key"] = str(uuid.uuid4())
    return headers


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()  # "leave the field out", where null means something else


def present(**fields: Any) -> dict[str, Any]:
    """The fields given, as JSON: None and UNSET left out (for these fields, absent and null
    mean the same to Takeover)."""
    return {
        name: _json(value)
        for name, value in fields.items()
        if value is not None and value is not UNSET
    }


def nullable(**fields: Any) -> dict[str, Any]:
    """Fields whose null means something (an indefinite pause): only UNSET is left out."""
    return {name: _json(value) for name, value in fields.items() if value is not UNSET}


def _json(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    return value
