"""What the tests go through, declared once. The routes come from the catalogue and the
database functions from the schema files, so a new function needs no list here; the
contract's own functions are the one list, which the catalogue must cover."""

from __future__ import annotations

import re
from pathlib import Path

from functions.catalogue import functions_by_name

SCHEMAS = Path(__file__).resolve().parent.parent / "supabase" / "schemas"

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
