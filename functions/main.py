"""Every function of the contract, for deployment: one functions-framework target each,
named as the function with `_` for `-`.

functions-framework --source functions/main.py --target pause_activate
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from flask import Request, Response

from functions.database.instance import open_in_forked_workers
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
    if not (isinstance(declared, Function) and declared.target == target):
        declared = _from_catalogue(target)
    # Each gunicorn worker connects as it boots, while its first request is on its way.
    open_in_forked_workers()
    return declared.serve


def _from_catalogue(target: str) -> Function:
    # Imported only here: the catalogue imports every function module.
    from functions.catalogue import functions_by_name

    for function in functions_by_name().values():
        if function.target == target:
            return function
    raise AttributeError(target)
