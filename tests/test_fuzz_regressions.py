"""Failing cases the fuzzing found (schemathesis, and the hand probes beside it), kept as
plain tests of what the contract wants. Each was a bug of the core, fixed since."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from functions.catalogue.openapi import document
from functions.local import demo
from functions.local.server import create_app
from tests.support import Api

CONVERSATION = str(demo.FIRST_CONVERSATION_ID)


def _error(body: bytes) -> dict[str, Any]:
    parsed = json.loads(body)
    assert isinstance(parsed, dict)
    error = parsed["error"]
    assert isinstance(error, dict)
    return error


@pytest.mark.parametrize("method", ["TRACE", "QUERY"])
def test_any_other_method_gets_the_json_405(api: Api, method: str) -> None:
    """Found by schemathesis (unsupported methods, coverage phase; first an HTML 405): the
    contract's errors are JSON, 405 for a wrong method, and the answer names the methods
    the function serves and the request, as every other answer does."""
    client = create_app().test_client()

    answer = client.open(
        "/functions/v1/pause-status",
        method=method,
        headers={"Authorization": f"Bearer {api.service}"},
    )

    assert answer.status_code == 405
    error = _error(answer.get_data())
    assert error["code"] == "method_not_allowed"
    assert error["details"] == {"allowed": ["GET"]}
    assert answer.headers["Allow"] == "GET, OPTIONS"
    assert error["request_id"] is not None
    assert answer.headers.get("X-Request-Id") == error["request_id"]


def test_a_body_that_may_be_empty_is_not_documented_as_required(api: Api) -> None:
    """Found by schemathesis (negative_data_rejection): POST auto-resume without a body is
    answered 200, which is right by the contract (`limit`? only), while the document says
    the body is required."""
    answer = api.post("auto-resume", token=api.service)
    assert answer.status_code == 200

    body = document()["paths"]["/functions/v1/auto-resume"]["post"]["requestBody"]
    assert body["required"] is False


@pytest.mark.parametrize("value", ["0.5", "1700000000"])
def test_since_and_until_take_only_date_times(api: Api, value: str) -> None:
    """Found by schemathesis (negative_data_rejection): `until=0.5` was answered 200."""
    for parameter in ("since", "until"):
        answer = api.get("pause-logger", token=api.service, **{parameter: value})
        assert answer.status_code == 422, (parameter, answer.get_data())


@pytest.mark.parametrize(
    ("parameter", "value"),
    [("since", "0001-01-01T00:00:00+14:00"), ("until", "9999-12-31T23:59:59-14:00")],
)
def test_a_date_past_the_calendar_in_utc_is_a_422(api: Api, parameter: str, value: str) -> None:
    """Found by the hand probes beside the fuzzing (fixed): a valid ISO 8601 date-time
    whose UTC value falls outside year 1..9999 answered 500 internal_error (OverflowError
    in models._to_utc)."""
    answer = api.get("pause-logger", token=api.service, **{parameter: value})

    assert answer.status_code == 422, answer.get_data()


@pytest.mark.parametrize("function", ["pause-activate", "auto-resume"])
def test_a_body_over_64_kib_is_a_413_under_functions_framework(
    api: Api, db: psycopg.Connection[Any], function: str
) -> None:
    """Found by the hand probes (fixed): the local server answered 413, the deployed
    target (as functions-framework serves it, which tests.support.Api uses) a plain-text
    500: functions-framework's after_request read_request() read the body again past
    the limit read_body had set."""
    raw = b" " * (64 * 1024 + 1) + b"{}"

    answer = api.call("POST", function, token=api.service, raw=raw)

    assert answer.status_code == 413, answer.get_data()[:200]
    assert _error(answer.get_data())["code"] == "body_too_large"
