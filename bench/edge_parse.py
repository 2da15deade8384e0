"""What refusing duplicate JSON keys costs the gate's edge: `read_body` on the gate's own
request model, as the server hands it a request, against the same `read_body` with the
duplicate check switched off, alternated in one run. No database.

    python -m bench.edge_parse
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable

from flask import Request
from werkzeug.test import EnvironBuilder

from bench.harness import Figure, alternate, table
from functions.edge import http
from functions.interaction_gate import FUNCTION

GATE = FUNCTION._inputs["POST"]
CONVERSATION = "7a1c0000-0000-4000-8000-0000000000c1"
BODIES = {
    # What an agent sends before every message: no escapes, the check's quick path.
    "the gate's body": {
        "conversation_id": CONVERSATION,
        "message_id": "wamid.HBgM5511",
        "agent_id": "support-bot",
    },
    # A message id with a quote in it: the exact path.
    "with an escape": {
        "conversation_id": CONVERSATION,
        "message_id": 'm-"42"',
        "agent_id": "support-bot",
    },
}


def reader(raw: bytes) -> Callable[[], object]:
    """read_body on a new request carrying `raw`, as each request arrives."""
    environ = EnvironBuilder(method="POST", data=raw, content_type="application/json").get_environ()

    def read() -> object:
        environ["wsgi.input"] = io.BytesIO(raw)
        return http.read_body(Request(environ), GATE)

    return read


def measure(name: str, raw: bytes) -> Figure:
    read = reader(raw)
    check = http._refuse_duplicate_keys

    def with_check(use: Callable[[bytes], None] = check) -> object:
        # Both sides pay for the swap alike.
        http._refuse_duplicate_keys = use  # type: ignore[assignment]
        try:
            return read()
        finally:
            http._refuse_duplicate_keys = check

    def without_check() -> object:
        return with_check(lambda raw: None)

    return compare(
        "edge",
        f"read_body of the gate, {len(raw)} bytes ({name})",
        with_check,
        without_check,
        "the same read_body, duplicate check off, alternated",
    )


def measure_parse(name: str, raw: bytes) -> Figure:
    """The parse alone, without the request around it: the check's share at its largest."""

    def with_check() -> object:
        http._refuse_duplicate_keys(raw)
        return GATE.validate_json(raw, strict=True)

    return compare(
        "parse",
        f"the parse alone, {len(raw)} bytes ({name})",
        with_check,
        lambda: GATE.validate_json(raw, strict=True),
        "validate_json alone, alternated",
    )


def compare(
    key: str,
    measurement: str,
    subject: Callable[[], object],
    baseline: Callable[[], object],
    label: str,
) -> Figure:
    """`subject` against `baseline` in CPU µs per call: this process's CPU time, which the
    other processes on a shared machine do not stretch as they stretch the wall clock."""
    samples = alternate(
        {"subject": subject, "baseline": baseline},
        rounds=15,
        calls_per_round=20_000,
        seconds_per_round=0.5,
        warm_up_calls=5_000,
        probes={"subject": time.process_time, "baseline": time.process_time},
    )
    subject_us = samples["subject"].backend_cpu_us_per_call
    baseline_us = samples["baseline"].backend_cpu_us_per_call
    assert subject_us is not None
    assert baseline_us is not None
    return Figure(
        key=key,
        measurement=measurement,
        value=subject_us,
        unit="CPU µs",
        baseline=baseline_us,
        baseline_label=label,
    )


def main() -> None:
    figures = []
    for name, body in BODIES.items():
        raw = json.dumps(body).encode()
        figures += [measure(name, raw), measure_parse(name, raw)]
    print(table(figures))


if __name__ == "__main__":
    main()
