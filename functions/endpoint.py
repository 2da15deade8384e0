"""The HTTP edge every function shares: methods, body limits, parsing, idempotency keys,
errors as JSON, and one structured log line per request."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Request, Response
from pydantic import BaseModel, TypeAdapter, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from functions.auth import CALLER_KEY, Caller
from functions.errors import (
    ApiError,
    BadRequest,
    InternalError,
    MethodNotAllowed,
    PayloadTooLarge,
    Unavailable,
    Unprocessable,
)

MAX_BODY_BYTES = 64 * 1024
_CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": (
        "authorization, content-type, apikey, x-client-info, idempotency-key, x-request-id"
    ),
    "Access-Control-Expose-Headers": "x-request-id, retry-after",
}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# Where read_body/read_query leave the parsed input for the request log line.
PARSED = "takeover.parsed"


def _request_logger() -> logging.Logger:
    """JSON lines on stdout, as Cloud Functions and Supabase collect them."""
    logger = logging.getLogger("takeover.request")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
        logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    return logger


request_log = _request_logger()

Model = TypeVar("Model")
Handler = Callable[[Request], BaseModel]


def endpoint(*methods: str) -> Callable[[Handler], Callable[[Request], Response]]:
    """Serve `handler` on `methods`: it returns its answer model or raises an ApiError."""
    allowed = frozenset(methods)

    def decorate(handler: Handler) -> Callable[[Request], Response]:
        function = handler.__name__.replace("_", "-")

        @functools.wraps(handler)
        def serve(request: Request) -> Response:
            if request.method == "OPTIONS":
                return _preflight(allowed)
            started = time.perf_counter()
            request_id = _request_id(request)
            answer: BaseModel | None = None
            error: ApiError | None = None
            try:
                if request.method not in allowed:
                    raise MethodNotAllowed(allowed)
                answer = handler(request)
                response = json_response(200, answer.model_dump_json())
            except ApiError as refused:
                error = refused
                response = error_response(refused, request_id)
            except Exception:
                # A bug, never the caller's doing: logged with the request id the answer carries.
                request_log.exception("unhandled error in %s (request %s)", function, request_id)
                error = InternalError("internal_error", "Something went wrong on our side.")
                response = error_response(error, request_id)
            response.headers["X-Request-Id"] = request_id
            if request_log.isEnabledFor(logging.INFO):
                _log_request(
                    request, function, request_id, response.status_code, started, answer, error
                )
            return response

        return serve

    return decorate


def read_body(request: Request, model: type[Model] | TypeAdapter[Model]) -> Model:
    """The JSON body as `model`: 413 over 64 KiB, 400 unreadable, 422 not the model.
    An empty body reads as `{}`."""
    parsed = _parse_body(request, model)
    request.environ[PARSED] = parsed
    return parsed


def _parse_body(request: Request, model: type[Model] | TypeAdapter[Model]) -> Model:
    request.max_content_length = MAX_BODY_BYTES
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge as error:
        # Lift the limit again: functions-framework reads the body once more after the
        # answer, and would turn a second refusal into a bare 500.
        request.max_content_length = None
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
        parsed = _adapter(model).validate_python(parameters)
    except ValidationError as error:
        raise invalid(error) from error
    request.environ[PARSED] = parsed
    return parsed


def idempotency(request: Request, function: str, body: BaseModel) -> dict[str, str | None]:
    """The `Idempotency-Key` header and a hash of what it stands for (the function and the
    parsed body), as lifecycle function arguments; both None without the header."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return {"idempotency_key": None, "request_hash": None}
    if not _IDEMPOTENCY_KEY.match(key):
        raise Unprocessable(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 printable ASCII characters.",
        )
    request_hash = hashlib.sha256(f"{function}\n{body.model_dump_json()}".encode()).hexdigest()
    return {"idempotency_key": key, "request_hash": request_hash}


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


def error_response(error: ApiError, request_id: str | None = None) -> Response:
    headers: dict[str, str] = {}
    if isinstance(error, Unavailable):
        headers["Retry-After"] = str(error.retry_after_seconds)
    if isinstance(error, MethodNotAllowed):
        headers["Allow"] = ", ".join(sorted(error.allowed | {"OPTIONS"}))
    body = {
        "error": {
            "code": error.code,
            "message": error.message,
            "details": error.details,
            "request_id": request_id,
        }
    }
    return json_response(error.status, json.dumps(body, default=str), headers)


def _request_id(request: Request) -> str:
    """The caller's X-Request-Id when it is a sane one (to follow a request across
    services), else a new one."""
    given = request.headers.get("X-Request-Id", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def _log_request(
    request: Request,
    function: str,
    request_id: str,
    status: int,
    started: float,
    answer: BaseModel | None,
    error: ApiError | None,
) -> None:
    """One JSON line per request. Never a header, a token or a body: only what identifies
    the request and its outcome."""
    parsed = request.environ.get(PARSED)
    caller: Caller | None = request.environ.get(CALLER_KEY)
    conversation_id = getattr(parsed, "conversation_id", None) or getattr(
        answer, "conversation_id", None
    )
    line = {
        "function": function,
        "method": request.method,
        "status": status,
        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
        "request_id": request_id,
        "caller": caller.kind.value if caller else None,
        "conversation_id": str(conversation_id) if conversation_id else None,
        "event_id": getattr(answer, "event_id", None),
        "error": error.code if error else None,
    }
    request_log.info(json.dumps(line))


def _preflight(allowed: frozenset[str]) -> Response:
    response = Response(status=204)
    response.headers.update(_CORS_HEADERS)
    response.headers["Access-Control-Allow-Methods"] = ", ".join(sorted(allowed | {"OPTIONS"}))
    return response
