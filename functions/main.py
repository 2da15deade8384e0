"""Every function of the contract, for deployment: one functions-framework target each,
named as the function with `_` for `-`.

functions-framework --source functions/main.py --target pause_activate
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from flask import Request, Response

from functions.catalogue import functions_by_name
from functions.shared.config import config_or_exit
from functions.shared.http import Function
from functions.shared.identity import check_configuration

# At the instance's start, not at its first request: a bad variable stops it, and a
# deployment that can verify no credential says so.
config_or_exit()
check_configuration()


def __getattr__(target: str) -> Callable[[Request], Response]:
    """The target functions-framework asks for, by name. Only its own module is imported
    (functions/<target>.py, where the catalogue would find it): a cold start pays for one
    function, not every one."""
    if target.startswith("_"):
        raise AttributeError(target)
    try:
        module = importlib.import_module(f"functions.{target}")
    except ModuleNotFoundError:
        module = None
    declared = getattr(module, "FUNCTION", None)
    if isinstance(declared, Function) and declared.target == target:
        return declared.serve
    for function in functions_by_name().values():
        if function.target == target:
            return function.serve
    raise AttributeError(target)
