"""The database through a Supabase project's REST API: supabase-py RPC (SUPABASE_URL).

PostgREST runs each RPC in its own transaction, so a lifecycle function keeps its
one-call, one-transaction guarantee here too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
from postgrest.exceptions import APIError
from supabase import Client, ClientOptions, create_client

from functions.shared.config import config
from functions.shared.dbapi import Arguments, answer
from functions.shared.errors import Unprocessable, database_unavailable

# SQLSTATE classes that mean "this value does not fit": data exceptions, constraint violations.
_INVALID_VALUE_CLASSES = ("22", "23")


def _json_value(value: object) -> object:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class SupabaseDatabase:
    def __init__(self, url: str, service_role_key: str) -> None:
        # Our own httpx client: it keeps a fractional timeout, which postgrest-py's own
        # timeout option would truncate to whole seconds.
        http = httpx.Client(timeout=config().database_timeout_seconds)
        self._client: Client = create_client(
            url, service_role_key, options=ClientOptions(httpx_client=http)
        )

    def call(self, function: str, arguments: Arguments) -> dict[str, Any]:
        parameters = {f"p_{name}": _json_value(value) for name, value in arguments.items()}
        try:
            response = self._client.rpc(f"takeover_{function}", parameters).execute()
        except APIError as error:
            if (error.code or "").startswith(_INVALID_VALUE_CLASSES):
                raise Unprocessable(
                    "invalid_value", "A value is out of its allowed range."
                ) from error
            raise database_unavailable() from error
        except httpx.HTTPError as error:
            raise database_unavailable() from error
        return answer(response.data)

    def ping(self) -> None:
        # PostgREST answers its root even when the database is down; a sweep of nothing
        # reaches the database and changes nothing.
        self.call("sweep", {"limit": 0})

    def close(self) -> None:
        self._client.postgrest.session.close()
