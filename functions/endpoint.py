"""The HTTP edge every function shares: methods, body limits, parsing, errors as JSON."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Request, Response
from pydantic import BaseModel, TypeAdapter, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from functions.errors import (
    ApiError,
    BadRequest,
    MethodNotAllowed,
    PayloadTooLarge,
    Unavailable,
    Unprocessable,
)

MAX_BODY_BYTES = 64 * 1024
_CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "authorization, content-type, apikey, x-client-info",
}

Model = TypeVar("Model")
Handler = Callable[[Request], BaseModel]


def endpoint(*methods: str) -> Callable[[Handler], Callable[[Request], Response]]:
    """Serve `handler` on `methods`: it returns its answer model or raises an ApiError."""
    allowed = frozenset(methods)

    def decorate(handler: Handler) -> Callable[[Request], Response]:
        @functools.wraps(handler)
        def serve(request: Request) -> Response:
            if request.method == "OPTIONS":
                return _preflight(allowed)
            try:
                if request.method not in allowed:
                    raise MethodNotAllowed(allowed)
                return json_response(200, handler(request).model_dump_json())
            except ApiError as error:
                return error_response(error)

        return serve

    return decorate


def read_body(request: Request, model: type[Model] | TypeAdapter[Model]) -> Model:
    """The JSON body as `model`: 413 over 64 KiB, 400 unreadable, 422 not the model.
    An empty body reads as `{}`."""
    request.max_content_length = MAX_BODY_BYTES
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge as error:
        raise PayloadTooLarge(
            "body_too_large", f"The body is over {MAX_BODY_BYTES // 1024} KiB."
        ) from error
    try:
        return _adapter(model).validate_json(raw or b"{}", strict=True)
    except ValidationError as error:
        if any(issue["type"] == "json_invalid" for issue in error.errors()):
            raise BadRequest("invalid_json", "The body is not readable JSON.") from error
        raise invalid(error) from error


def read_query(request: Request, model: type[Model] | TypeAdapter[Model]) -> Model:
    """The query string as `model`; a parameter given twice is refused."""
    parameters: dict[str, Any] = {}
    for name, values in request.args.lists():
        if len(values) != 1:
            raise Unprocessable(
                "validation_failed", f"Give {name} once.", [{"loc": [name], "msg": "repeated"}]
            )
        parameters[name] = values[0]
    try:
        return _adapter(model).validate_python(parameters)
    except ValidationError as error:
        raise invalid(error) from error


_adapters: dict[Any, TypeAdapter[Any]] = {}


def _adapter(model: type[Model] | TypeAdapter[Model]) -> TypeAdapter[Model]:
    """One validator per model, built on first use."""
    if isinstance(model, TypeAdapter):
        return model
    adapter = _adapters.get(model)
    if adapter is None:
        adapter = _adapters[model] = TypeAdapter(model)
    return adapter


def invalid(error: ValidationError) -> Unprocessable:
    details = [
        {"loc": list(issue["loc"]), "msg": issue["msg"], "type": issue["type"]}
        for issue in error.errors(include_url=False, include_context=False, include_input=False)
    ]
    return Unprocessable("validation_failed", "Some fields are missing or out of range.", details)


def json_response(status: int, body: str, headers: dict[str, str] | None = None) -> Response:
    response = Response(body, status=status, mimetype="application/json")
    response.headers.update(_CORS_HEADERS)
    if headers:
        response.headers.update(headers)
    return response


def error_response(error: ApiError) -> Response:
    headers: dict[str, str] = {}
    if isinstance(error, Unavailable):
        headers["Retry-After"] = str(error.retry_after_seconds)
    if isinstance(error, MethodNotAllowed):
        headers["Allow"] = ", ".join(sorted(error.allowed | {"OPTIONS"}))
    body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
    return json_response(error.status, json.dumps(body, default=str), headers)


def _preflight(allowed: frozenset[str]) -> Response:
    response = Response(status=204)
    response.headers.update(_CORS_HEADERS)
    response.headers["Access-Control-Allow-Methods"] = ", ".join(sorted(allowed | {"OPTIONS"}))
    return response
