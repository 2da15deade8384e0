"""The OpenAPI document of every function, from the same pydantic models they parse with.

python -m functions.openapi > functions/openapi.json     (make openapi)

It reads every function's declaration in the catalogue (functions/catalogue.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from functions.catalogue import functions_by_name
from functions.shared.models import ErrorAnswer

_ERRORS = (400, 401, 403, 404, 409, 413, 422, 503)


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
    503: "Database unreachable",
}
_REF = "#/components/schemas/{model}"


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


def document() -> dict[str, Any]:
    models: set[tuple[type[BaseModel], JsonSchemaMode]] = {(ErrorAnswer, "serialization")}
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
            "security": [{"bearer": []}],
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": refs[(op.answer, "serialization")]}},
                },
                **{
                    str(status): {
                        "description": _STATUS_TEXT[status],
                        "content": {
                            "application/json": {"schema": refs[(ErrorAnswer, "serialization")]}
                        },
                    }
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
            operation["parameters"] = [
                {"name": name, "in": "query", "required": name in required, "schema": schema}
                for name, schema in query_schema["properties"].items()
            ]
        paths.setdefault(f"/functions/v1/{op.function}", {})[op.method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Takeover",
            "version": "1.0.0",
            "description": "Pause the AI support agent while a human takes a conversation over.",
        },
        "servers": [{"url": "http://127.0.0.1:54321"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
