"""The database through a Supabase project's REST API: supabase-py RPC (SUPABASE_URL).

PostgREST runs each RPC in its own transaction, so a lifecycle function keeps its
one-call, one-transaction guarantee here too.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
from postgrest.exceptions import APIError
from supabase import Client, ClientOptions, create_client

from functions.database.interface import Arguments, answer, with_idempotency
from functions.shared.config import config
from functions.shared.errors import (
    ApiError,
    ServerMisconfigured,
    database_unavailable,
    invalid_value,
)
from functions.shared.models import ONCE, CallOptions

# SQLSTATE classes that mean "this value does not fit": data exceptions, constraint violations.
_INVALID_VALUE_CLASSES = ("22", "23")
# What only the operator can mend, however often it is retried: PostgREST refusing the key
# (PGRST300 no JWT secret on the server, PGRST301 a bad JWT, PGRST302 no key at all), a
# function it does not know (PGRST202/203: a migration not applied, or an old schema
# cache), a schema it does not expose (PGRST106), and Postgres refusing the role (42501),
# or missing the function or a table (42883, 42P01).
_MISCONFIGURED_CODES = frozenset(
    {
        "PGRST106",
        "PGRST202",
        "PGRST203",
        "PGRST300",
        "PGRST301",
        "PGRST302",
        "42501",
        "42883",
        "42P01",
    }
)
# Statuses a gateway answers when it is only busy: the caller may retry.
_RETRYABLE_STATUSES = frozenset({408, 425, 429})
log = logging.getLogger("takeover.supabase")


def _json_value(value: object) -> object:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class SupabaseDatabase:
    def __init__(self, url: str, service_role_key: str) -> None:
        # Our own httpx client: it keeps a fractional timeout, which postgrest-py's own
        # timeout option would truncate to whole seconds, and it records each answer's
        # HTTP status, which postgrest-py's APIError does not carry.
        self._status = threading.local()
        http = httpx.Client(
            timeout=config().database_timeout_seconds,
            event_hooks={"response": [self._record_status]},
        )
        self._client: Client = create_client(
            url, service_role_key, options=ClientOptions(httpx_client=http)
        )

    def _record_status(self, response: httpx.Response) -> None:
        self._status.value = response.status_code

    def call(
        self, function: str, arguments: Arguments, options: CallOptions = ONCE
    ) -> dict[str, Any]:
        # Only the Idempotency-Key is used: PostgREST holds the database connections, not
        # us, and runs every call under its own pool and the API roles' statement timeout.
        parameters = {
            f"p_{name}": _json_value(value)
            for name, value in with_idempotency(arguments, options.idempotency).items()
        }
        self._status.value = None
        try:
            response = self._client.rpc(f"takeover_{function}", parameters).execute()
        except APIError as error:
            raise self._refused(function, error) from error
        except httpx.HTTPError as error:
            raise database_unavailable() from error
        return answer(response.data)

    def _refused(self, function: str, error: APIError) -> ApiError:
        """What PostgREST's error answer means for the caller: their value (422), our
        deployment (500, not retryable, the cause logged), or an outage (503)."""
        code = error.code or ""
        status: int | None = getattr(self._status, "value", None)
        if code.startswith(_INVALID_VALUE_CLASSES):
            return invalid_value()
        misconfigured = code in _MISCONFIGURED_CODES or (
            status is not None and 400 <= status < 500 and status not in _RETRYABLE_STATUSES
        )
        if not misconfigured:
            return database_unavailable()
        cause = f"PostgREST answered takeover_{function} with {status} {code}: {error.message}"
        log.error("server_misconfigured: %s", cause)
        return ServerMisconfigured(
            "The functions cannot use their database with the configuration they were given.",
            cause,
        )

    def ping(self) -> None:
        # PostgREST answers its root even when the database is down; a sweep of nothing
        # reaches the database and changes nothing.
        self.call("sweep", {"limit": 0})

    def close(self) -> None:
        self._client.postgrest.session.close()
