"""What the tests go through, declared once. The routes come from the catalogue, the
database functions from the schema files and the error codes from the code, so a new one
needs no list here; the contract's own functions are the one list, which the catalogue must
cover."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from functions.catalogue import functions_by_name
from functions.shared import errors

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "supabase" / "schemas"

# The committed API description (functions/openapi.json), parsed.
OPENAPI: dict[str, Any] = json.loads((ROOT / "functions" / "openapi.json").read_text())

# The functions docs/api.md describes from the contract; the catalogue serves at least these.
CONTRACT_FUNCTIONS = frozenset(
    {
        "pause-activate",
        "pause-extend",
        "pause-resume",
        "human-reply",
        "interaction-gate",
        "pause-logger",
        "pause-status",
        "pause-settings",
        "pause-report",
        "auto-resume",
        "audit-export",
        "webhook-endpoints",
        "webhook-dispatch",
    }
)

# Every (function, method) the deployed functions serve.
ROUTES = sorted(
    (name, method) for name, function in functions_by_name().items() for method in function.routes
)
METHODS = {name: list(function.routes) for name, function in functions_by_name().items()}


def _database_functions() -> list[str]:
    """Every function the schema files create in public (by its name) and takeover_private
    (schema-qualified), as the isolation matrix names them."""
    declared = re.compile(r"^\s*create function (public|takeover_private)\.(\w+)\(", re.M)
    names = {
        name if schema == "public" else f"{schema}.{name}"
        for path in SCHEMAS.glob("*.sql")
        for schema, name in declared.findall(path.read_text())
    }
    return sorted(names)


DATABASE_FUNCTIONS = _database_functions()


_RAISING = re.compile(
    r"\b(BadRequest|Unauthorized|Forbidden|NotFound|Conflict|PayloadTooLarge|Unprocessable|"
    r"InternalError|Unavailable|ApiError)\(\s*\"([a-z_]+)\""
)


def raised_codes() -> dict[str, set[type[errors.ApiError]]]:
    """Every error code the functions raise by name (the local server's code aside), with
    the exceptions they raise it as."""
    raised: dict[str, set[type[errors.ApiError]]] = {}
    for path in (ROOT / "functions").rglob("*.py"):
        if "local" in path.relative_to(ROOT).parts:
            continue
        for match in _RAISING.finditer(path.read_text()):
            raised.setdefault(match.group(2), set()).add(getattr(errors, match.group(1)))
    return raised
