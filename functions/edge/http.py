"""The HTTP edge every function shares, and the one declaration each function makes.

A function module declares `FUNCTION = Function(name, Route(...), ...)`. From that alone
come its deploy target (main.py), its route on the local server, its OpenAPI
operations (functions/catalogue/openapi.py) and its request log line. A route's handler receives a
`Call` (the verified caller and the parsed input) and returns its answer model; it raises
an ApiError to refuse. The edge does the rest: methods, body limits, parsing, idempotency
keys, errors as JSON, one structured log line per request.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import re
import time
import traceback
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from flask import Request, Response
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import from_json
from werkzeug.exceptions import RequestEntityTooLarge

from functions.edge.identity import ANYONE, Caller, CallerKind, authenticate
from functions.shared import logs
from functions.shared.errors import (
    ApiError,
    BadRequest,
    InternalError,
    MethodNotAllowed,
    PayloadTooLarge,
    Unavailable,
    Unprocessable,
)
from functions.shared.models import CallOptions, Idempotency

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

Input = TypeVar("Input")


@dataclass(frozen=True)
class Call(Generic[Input]):
    """What a handler receives: who calls, and what they sent, already verified and parsed;
    and, by its route's rules, how the database may run its call: again, if its connection
    died under it (see Route), under the caller's Idempotency-Key, if the route takes one."""

    caller: Caller
    input: Input
    options: CallOptions


Handler = Callable[[Call[Any]], BaseModel]


@dataclass(frozen=True)
class Route:
    """One method of a function. The input model and the answer model are read from the
    handler's annotations (`Call[Model]` in, the return type out)."""

    method: Literal["GET", "POST", "PUT", "DELETE"]
    handler: Handler
    summary: str
    callers: frozenset[CallerKind] = ANYONE
    # Who may call, as the OpenAPI description says it, when finer than the caller kinds
    # (the database checks membership and roles).
    who: str | None = None
    # Where the input comes from: the JSON body, or the query string.
    source: Literal["body", "query"] = "body"
    # Takes an Idempotency-Key: the same key and request again answers the first answer.
    idempotent: bool = False
    # Whether a call whose database connection died under it may be sent again, because
    # the database applies it at most once. None: a GET may (a read; a lazy expiry it does
    # writes one auto_resume at most); any other method may
    # when the caller sent an Idempotency-Key (idempotent routes), or the field named by
    # `deduped_by` (the database writes one row per value: a message_id).
    retry_safe: bool | None = None
    deduped_by: str | None = None

    def may_retry(self, parsed: Any, idempotency: Idempotency | None) -> bool:
        """This route's retry rule for one parsed input."""
        if self.retry_safe is not None:
            return self.retry_safe
        if self.method == "GET" or idempotency is not None:
            return True
        return self.deduped_by is not None and getattr(parsed, self.deduped_by) is not None

    @property
    def input_type(self) -> Any:
        """The model in the handler's first parameter (`Call[Model]`), whatever its name."""
        first = next(iter(inspect.signature(self.handler).parameters))
        return typing.get_args(typing.get_type_hints(self.handler)[first])[0]

    @property
    def answer_type(self) -> type[BaseModel]:
        answer: type[BaseModel] = typing.get_type_hints(self.handler)["return"]
        return answer

    @property
    def callers_text(self) -> str:
        return self.who or ", ".join(kind.value for kind in CallerKind if kind in self.callers)


class Function:
    """A deployed function: its name (`pause-activate`), its routes, one per method, and how
    it is deployed (`make deploy-plan` prints it): the longest a call may take, the cadence
    a scheduler calls it at (pg_cron syntax: '* * * * *', '10 seconds'), and the variables
    and secrets it alone reads, set on its deploy only."""

    def __init__(
        self,
        name: str,
        *routes: Route,
        timeout_seconds: int = 60,
        schedule: str | None = None,
        variables: tuple[str, ...] = (),
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.timeout_seconds = timeout_seconds
        self.schedule = schedule
        self.variables = variables
        self.secrets = secrets
        self.target = name.replace("-", "_")
        self.routes: dict[str, Route] = {route.method: route for route in routes}
        self._inputs = {route.method: _adapter(route.input_type) for route in routes}
        self.serve = self._make_target()

    def _make_target(self) -> Callable[[Request], Response]:
        """The functions-framework target: a plain function, as the framework requires."""

        def target(request: Request) -> Response:
            return self.handle(request)

        target.__name__ = target.__qualname__ = self.target
        return target

    def handle(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return _preflight(frozenset(self.routes))
        started = time.perf_counter()
        request_id = _request_id(request)
        caller: Caller | None = None
        parsed: Any = None
        answer: BaseModel | None = None
        error: ApiError | None = None
        try:
            route = self.routes.get(request.method)
            if route is None:
                raise MethodNotAllowed(frozenset(self.routes))
            caller = authenticate(request, route.callers)
            if route.source == "query":
                parsed = read_query(request, self._inputs[route.method])
            else:
                parsed = read_body(request, self._inputs[route.method])
            key = _idempotency(request, self.name, parsed) if route.idempotent else None
            options = CallOptions(retry_safe=route.may_retry(parsed, key), idempotency=key)
            answer = route.handler(Call(caller, parsed, options))
            response = json_response(200, answer.model_dump_json())
        except ApiError as refused:
            error = refused
            response = error_response(refused, request_id)
        except Exception:
            # A bug, never the caller's doing: its traceback goes in the request's own log
            # line (one entry, with the request id the answer carries).
            error = InternalError("internal_error", "Something went wrong on our side.")
            error.cause = traceback.format_exc()
            response = error_response(error, request_id)
        response.headers["X-Request-Id"] = request_id
        if request_log.isEnabledFor(logging.INFO):
            _log_request(
                self.name,
                request.method,
                request_id,
                response.status_code,
                started,
                caller,
                parsed,
                answer,
                error,
            )
        return response


# One JSON line per request, by the handler every logger of ours writes with.
request_log = logging.getLogger(f"{logs.ROOT_LOGGER}.request")

Model = TypeVar("Model")


def read_body(request: Request, model: TypeAdapter[Model]) -> Model:
    """The JSON body as `model`: 413 over 64 KiB, 400 unreadable (cut short, malformed
    framing, not JSON, a key twice), 422 not the model. An empty body reads as `{}`."""
    # One byte over the limit is read, whatever the framing: a chunked body has no
    # Content-Length for werkzeug to refuse up front, and would otherwise be cut at the
    # limit and parsed.
    request.max_content_length = MAX_BODY_BYTES + 1
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge as error:
        raise _too_large(request) from error
    except Exception as error:
        # Reading the body fails only on what the connection carried: werkzeug raises
        # ClientDisconnected, gunicorn its parser's errors (InvalidChunkSize, NoMoreData).
        raise _unreadable(request, type(error).__name__) from error
    if len(raw) > MAX_BODY_BYTES:
        raise _too_large(request)
    if request.content_length is not None and len(raw) < request.content_length:
        # gunicorn hands over what arrived, without an error, when the client hangs up.
        raise _unreadable(request, "closed before Content-Length")
    _refuse_duplicate_keys(raw)
    try:
        return model.validate_json(raw or b"{}", strict=True)
    except ValidationError as error:
        if any(issue["type"] == "json_invalid" for issue in error.errors()):
            raise BadRequest("invalid_json", "The body is not readable JSON.") from error
        raise invalid(error) from error


def _too_large(request: Request) -> PayloadTooLarge:
    _read_no_more(request)
    return PayloadTooLarge("body_too_large", f"The body is over {MAX_BODY_BYTES // 1024} KiB.")


def _unreadable(request: Request, cause: str) -> BadRequest:
    _read_no_more(request)
    error = BadRequest(
        "invalid_body",
        "The body could not be read: the connection ended before it did, or its chunked"
        " framing is malformed.",
    )
    error.cause = cause  # the log line says which
    return error


def _read_no_more(request: Request) -> None:
    # functions-framework reads the body again after the answer: it gets nothing more, so a
    # refused body is never read in full (the server closes the connection instead), and a
    # connection that failed is not read again.
    request._cached_data = b""


def _refuse_duplicate_keys(raw: bytes) -> None:
    """400 when an object names a key twice: a JSON parser keeps the last one, so
    `{"duration_minutes":15,"duration_minutes":null}` would be an indefinite pause."""
    if b"\\" not in raw:
        # The common case, at a third of the cost: without escapes every quote delimits a
        # string, and the parser drops a repeated key's first pair, so fewer strings come
        # out than went in exactly when a key repeats.
        try:
            parsed = from_json(raw)
        except ValueError:
            return  # not JSON: the validation below says so
        if raw.count(b'"') // 2 == _strings(parsed):
            return
    try:
        json.loads(raw, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError):
        return  # not JSON, or nested past what any request model takes: as above


def _strings(value: Any) -> int:
    """How many JSON strings (keys and values) `value` holds."""
    if isinstance(value, str):
        return 1
    if isinstance(value, dict):
        return len(value) + sum(_strings(item) for item in value.values())
    if isinstance(value, list):
        return sum(_strings(item) for item in value)
    return 0


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            name = key[:100]  # the key as the caller wrote it, within reason
            raise BadRequest("duplicate_key", f"The body names {name!r} twice.", {"key": name})
        seen.add(key)
    return dict(pairs)


def read_query(request: Request, model: TypeAdapter[Model]) -> Model:
    """The query string as `model`; a parameter given twice is refused."""
    parameters: dict[str, Any] = {}
    for name, values in request.args.lists():
        if len(values) != 1:
            raise Unprocessable(
                "validation_failed", f"Give {name} once.", [{"loc": [name], "msg": "repeated"}]
            )
        parameters[name] = values[0]
    try:
        return model.validate_python(parameters)
    except ValidationError as error:
        raise invalid(error) from error


def _idempotency(request: Request, function: str, body: BaseModel) -> Idempotency | None:
    """The `Idempotency-Key` header and a hash of what it stands for (the function and the
    fields the caller sent); None without the header."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise Unprocessable(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1 to 255 printable ASCII characters.",
        )
    # What the caller sent, not the model's defaults: an absent field and an explicit null
    # can mean different things (pause-activate's duration_minutes).
    sent = body.model_dump_json(exclude_unset=True)
    request_hash = hashlib.sha256(f"{function}\n{sent}".encode()).hexdigest()
    return Idempotency(key, request_hash)


def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


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
    function: str,
    method: str,
    request_id: str,
    status: int,
    started: float,
    caller: Caller | None,
    parsed: Any,
    answer: BaseModel | None,
    error: ApiError | None,
) -> None:
    """One JSON line per request. Never a header, a token or a body: only what identifies
    the request and its outcome."""
    conversation_id = getattr(parsed, "conversation_id", None) or getattr(
        answer, "conversation_id", None
    )
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    line: dict[str, Any] = {
        # What Cloud Logging reads from a JSON line: the entry's severity and summary.
        "severity": "ERROR" if status >= 500 else "WARNING" if status >= 400 else "INFO",
        "message": f"{method} {function} {status}{f' {error.code}' if error else ''}"
        f" {latency_ms:g} ms",
        "function": function,
        "method": method,
        "status": status,
        "latency_ms": latency_ms,
        "request_id": request_id,
        "caller": caller.kind.value if caller else None,
        "conversation_id": str(conversation_id) if conversation_id else None,
        "event_id": getattr(answer, "event_id", None),
        "error": error.code if error else None,
    }
    cause = getattr(error, "cause", None)
    if isinstance(error, InternalError) and cause:
        # One entry, not one per traceback line; Error Reporting reads `stack_trace`.
        line["stack_trace"] = cause
    elif cause:
        line["cause"] = cause  # what the operator must fix (server_misconfigured)
    request_log.info(line["message"], extra={"fields": line})


def _preflight(allowed: frozenset[str]) -> Response:
    response = Response(status=204)
    response.headers.update(_CORS_HEADERS)
    response.headers["Access-Control-Allow-Methods"] = ", ".join(sorted(allowed | {"OPTIONS"}))
    return response
