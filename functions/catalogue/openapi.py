"""The OpenAPI document of every function, from the same pydantic models they parse with.

python -m functions.catalogue.openapi > functions/openapi.json     (make openapi)

It reads every function's declaration in the catalogue (functions/catalogue/__init__.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from functions.catalogue import functions_by_name
from functions.shared.errors import error_codes
from functions.webhooks.events import payload_models

_ERRORS = (400, 401, 403, 404, 409, 413, 422, 500, 503)


# The answer of every refusal, as functions/edge/http.py's error_response writes it:
# described here, and only here, so that no function's cold start builds these models.
class ErrorDetail(BaseModel):
    code: str = Field(description="snake_case, stable: branch on it.")
    message: str
    details: Any = None
    request_id: str | None = None


class ErrorAnswer(BaseModel):
    error: ErrorDetail


@dataclass(frozen=True)
class Operation:
    function: str
    method: str
    summary: str
    callers: str
    answer: type[BaseModel]
    body: Any = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = _ERRORS
    idempotent: bool = False


def operations() -> list[Operation]:
    """One operation per route of every function in the catalogue."""
    return [
        Operation(
            function.name,
            route.method.lower(),
            route.summary,
            route.callers_text,
            route.answer_type,
            body=route.input_type if route.source == "body" else None,
            query=route.input_type if route.source == "query" else None,
            idempotent=route.idempotent,
        )
        for function in functions_by_name().values()
        for route in function.routes.values()
    ]


_STATUS_TEXT = {
    400: "Unreadable body",
    401: "Missing or bad token",
    403: "Not allowed for this caller",
    404: "Unknown or not visible",
    405: "Wrong method",
    409: "State conflict",
    413: "Body over 64 KiB",
    422: "A field out of its range",
    500: "server_misconfigured: the deployment cannot verify credentials or use its database"
    " with what it was given (not retryable); internal_error: a bug",
    503: "Database unreachable: retry after Retry-After seconds",
}
_REF = "#/components/schemas/{model}"
_REQUEST_ID = {
    "description": "The request's id: the caller's X-Request-Id when it sent a sane one"
    " (1-64 of A-Z a-z 0-9 . _ -), else a new one; also in an error's request_id and the log.",
    "schema": {"type": "string"},
}
_RETRY_AFTER = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "integer"},
}
_PARAMETERS = {
    "IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Repeating a request with the same key (within 24 hours) answers the"
        " first answer again and changes nothing; the same key with another body is 422"
        " idempotency_key_reused.",
        "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
    },
    "RequestId": {
        "name": "X-Request-Id",
        "in": "header",
        "required": False,
        "description": "Your id for the request, to follow it across services.",
        "schema": {"type": "string"},
    },
}


def _response(description: str, schema: dict[str, Any], status: int | str) -> dict[str, Any]:
    headers: dict[str, Any] = {"X-Request-Id": {"$ref": "#/components/headers/RequestId"}}
    if status == 503:
        headers["Retry-After"] = {"$ref": "#/components/headers/RetryAfter"}
    return {
        "description": description,
        "headers": headers,
        "content": {"application/json": {"schema": schema}},
    }


def _health(error: dict[str, Any]) -> dict[str, Any]:
    return {
        "get": {
            "operationId": "health_get",
            "summary": "Whether this instance reaches its database (for load balancers).",
            "security": [],
            "responses": {
                "200": {
                    "description": "The database answers.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"status": {"const": "ok"}},
                                "required": ["status"],
                            }
                        }
                    },
                },
                "500": {
                    "description": _STATUS_TEXT[500],
                    "content": {"application/json": {"schema": error}},
                },
                "503": {
                    "description": "The database does not answer.",
                    "headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
                    "content": {"application/json": {"schema": error}},
                },
            },
        }
    }


def _schema_of(annotation: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(annotation).json_schema(ref_template=_REF, mode="validation")
    schemas.update(schema.pop("$defs", {}))
    return schema


def _has_required_field(schema: dict[str, Any], schemas: dict[str, Any]) -> bool:
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in schema:
        return any(_has_required_field(option, schemas) for option in schema["anyOf"])
    return bool(schema.get("required"))


# What each delivery tells its receiver.
_EVENT_SUMMARIES = {
    "takeover.pause_activated": "A human took over: the AI agent stopped answering.",
    "takeover.interaction_blocked": "The AI agent tried to send while paused: refused.",
    "takeover.auto_resume": "The timer ran out: the AI agent answers again.",
    "takeover.force_resume": "An attendant handed the conversation back to the AI agent.",
    "takeover.extend_pause": "The pause was extended (or made indefinite).",
    "takeover.pause_expiring": "A pause ends within EXPIRY_NOTICE_MINUTES (once per end).",
}
_WEBHOOK_HEADERS = [
    {
        "name": name,
        "in": "header",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }
    for name, description in (
        ("webhook-id", "Stable across retries: evt_<log id>, or exp_<conversation>_<end>."),
        ("webhook-timestamp", "When this attempt was sent, in Unix seconds."),
        ("webhook-signature", "v1,<base64 HMAC-SHA256 of id.timestamp.body>: verify it."),
    )
]


def _webhooks(refs: dict[Any, Any]) -> dict[str, Any]:
    """One entry per event type: what an endpoint subscribed to it receives."""
    return {
        event_type: {
            "post": {
                "operationId": f"webhook_{event_type.removeprefix('takeover.')}",
                "summary": _EVENT_SUMMARIES[event_type],
                "description": "Signed as Standard Webhooks specify; retried until a 2xx.",
                "parameters": _WEBHOOK_HEADERS,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": refs[(model, "serialization")]}},
                },
                "responses": {
                    "2XX": {"description": "Delivered: any 2xx within WEBHOOK_TIMEOUT_SECONDS."}
                },
            }
        }
        for event_type, model in payload_models().items()
    }


def document() -> dict[str, Any]:
    models: set[tuple[type[BaseModel], JsonSchemaMode]] = {(ErrorAnswer, "serialization")}
    models |= {(model, "serialization") for model in payload_models().values()}
    all_operations = operations()
    for op in all_operations:
        models.add((op.answer, "serialization"))
        if op.query is not None:
            models.add((op.query, "validation"))
    refs, definitions = models_json_schema(
        sorted(models, key=lambda m: m[0].__name__), ref_template=_REF
    )
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for op in all_operations:
        operation: dict[str, Any] = {
            "operationId": f"{op.function.replace('-', '_')}_{op.method}",
            "summary": op.summary,
            "description": f"Callers: {op.callers}.",
            "security": [{"bearer": []}, {"apikey": []}],
            "parameters": [
                {"$ref": "#/components/parameters/RequestId"},
                *([{"$ref": "#/components/parameters/IdempotencyKey"}] if op.idempotent else []),
            ],
            "responses": {
                "200": _response("OK", refs[(op.answer, "serialization")], 200),
                **{
                    str(status): _response(
                        _STATUS_TEXT[status], refs[(ErrorAnswer, "serialization")], status
                    )
                    for status in op.errors
                },
            },
        }
        if op.body is not None:
            body_schema = _schema_of(op.body, schemas)
            operation["requestBody"] = {
                # A body whose every field is optional may be left out (auto-resume's).
                "required": _has_required_field(body_schema, schemas),
                "content": {"application/json": {"schema": body_schema}},
            }
        if op.query is not None:
            query_schema = op.query.model_json_schema(ref_template=_REF)
            required = set(query_schema.get("required", []))
            operation["parameters"] += [
                {"name": name, "in": "query", "required": name in required, "schema": schema}
                for name, schema in query_schema["properties"].items()
            ]
        paths.setdefault(f"/functions/v1/{op.function}", {})[op.method] = operation
    paths["/health"] = _health(refs[(ErrorAnswer, "serialization")])
    # Every code an error may carry, so a client can branch on them exhaustively.
    schemas["ErrorDetail"]["properties"]["code"]["enum"] = error_codes()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Takeover",
            "version": "1.0.0",
            "description": "Pause the AI support agent while a human takes a conversation over.",
        },
        "servers": [{"url": "http://127.0.0.1:54321"}],
        "paths": paths,
        "webhooks": _webhooks(refs),
        "components": {
            "schemas": schemas,
            "parameters": _PARAMETERS,
            "headers": {"RequestId": _REQUEST_ID, "RetryAfter": _RETRY_AFTER},
            "securitySchemes": {
                # A Supabase JWT (an attendant's, or the legacy service_role key), or a
                # secret API key (sb_secret_…) as the bearer.
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                # A secret API key (sb_secret_…) in Supabase's apikey header.
                "apikey": {"type": "apiKey", "in": "header", "name": "apikey"},
            },
        },
    }


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
