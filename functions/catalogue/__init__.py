"""Every deployed function, found by its module: a module at the top of `functions/` that
declares `FUNCTION` is one. Adding a function means writing that module, nothing else."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

import functions
from functions.shared.http import Function

# The catalogue's own modules, which read the declarations rather than make one.
_NOT_FUNCTIONS = {"catalogue", "openapi", "app"}


@cache
def functions_by_name() -> dict[str, Function]:
    """`{"pause-activate": Function, ...}`, in a stable (alphabetical module) order."""
    found: dict[str, Function] = {}
    for module_info in sorted(pkgutil.iter_modules(functions.__path__), key=lambda m: m.name):
        if module_info.ispkg or module_info.name in _NOT_FUNCTIONS:
            continue
        module = importlib.import_module(f"functions.{module_info.name}")
        declared = getattr(module, "FUNCTION", None)
        if isinstance(declared, Function):
            found[declared.name] = declared
    return found
