"""Every deployed function, found by its module: each module at the top of `functions/` is
one function and declares it as `FUNCTION` (the packages beside them hold what the functions
share). What is derived from the declarations lives here too: the all-in-one app (`app`)
and the OpenAPI document (`openapi`)."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType

import functions
from functions.edge.http import Function


class NotAFunction(TypeError):
    """A module at the top of functions/ that declares no FUNCTION (move it into a package,
    or declare it), or declares one its name does not give."""


@cache
def functions_by_name() -> dict[str, Function]:
    """`{"pause-activate": Function, ...}`, in a stable (alphabetical module) order."""
    return declared_in(functions)


def declared_in(package: ModuleType) -> dict[str, Function]:
    """The functions the top-level modules of `package` declare, by name."""
    found: dict[str, Function] = {}
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module_info.ispkg:
            continue
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        declared = getattr(module, "FUNCTION", None)
        if not isinstance(declared, Function):
            raise NotAFunction(f"{module.__file__} declares no FUNCTION")
        # The deployed entry point (main.py) finds a target by its module's name alone.
        if declared.target != module_info.name:
            raise NotAFunction(
                f"{module.__file__} declares {declared.name}: name it {declared.target}.py"
            )
        found[declared.name] = declared
    return found
