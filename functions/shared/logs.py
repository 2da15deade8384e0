"""Every log line of ours is one JSON object on stdout, as Cloud Logging (Cloud Run) and
Supabase collect them: `severity` (what the entry is filed under), `message`, `logger`,
and, from a record's `fields` (`log.info(..., extra={"fields": {...}})`), structured values;
an exception goes in `stack_trace`, in the same entry.

Our loggers are `takeover` and its children (`takeover.request`, `takeover.identity`,
`takeover.webhooks`, ...): they take this handler from `takeover`, at LOG_LEVEL (INFO), and
nothing else's (a root logger the platform configured would print them twice).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

ROOT_LOGGER = "takeover"
_SEVERITY = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured values a record was logged with (`extra={"fields": {...}}`)."""
    given: dict[str, Any] = getattr(record, "fields", {})
    return given


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelno, "DEFAULT"),
            "message": record.getMessage(),
            "logger": record.name,
        }
        entry.update(fields(record))
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _Stdout(logging.StreamHandler):  # type: ignore[type-arg]
    """Ours, told apart from handlers others (tests) attach."""


def _configure() -> None:
    logger = logging.getLogger(ROOT_LOGGER)
    if any(isinstance(handler, _Stdout) for handler in logger.handlers):
        return
    handler = _Stdout(sys.stdout)
    handler.setFormatter(JsonLines())
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())


_configure()
