"""The one entry point of both deploy paths, at the source root where each looks for it.

    functions-framework --target pause_activate     one function (Cloud Run functions)
    gunicorn main:app                               every function (the container)

Cloud Run functions' buildpack installs requirements.txt and starts functions-framework
with FUNCTION_TARGET; FUNCTION_SOURCE defaults to this file, whose folder functions-framework
puts on the path: `functions` imports from there, with nothing installed. A target is a
function's name with `_` for `-`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache
from typing import Any

from flask import Request, Response

from functions.edge.http import Function


def __getattr__(name: str) -> Any:
    """`app` for gunicorn, else the target functions-framework asks for, by name."""
    if name.startswith("_"):
        raise AttributeError(name)
    if name == "app":
        from functions.catalogue.app import production_app

        return production_app()
    return _target(name)


@cache
def _started() -> None:
    # At the instance's start, not at its first request: a bad variable stops it, and a
    # deployment that can verify no credential says so. (functions-framework resolves its
    # target before it forks its server, so SystemExit ends the whole instance.)
    from functions.database.instance import open_in_forked_workers
    from functions.edge.identity import check_configuration
    from functions.shared.config import config_or_exit

    config_or_exit()
    check_configuration()
    # Each gunicorn worker connects as it boots, while its first request is on its way.
    open_in_forked_workers()


def _target(target: str) -> Callable[[Request], Response]:
    """Only the target's own module is imported (functions/<target>.py, where the catalogue
    finds it): a cold start pays for one function, not every one."""
    _started()
    try:
        module = importlib.import_module(f"functions.{target}")
    except ModuleNotFoundError as error:
        if error.name != f"functions.{target}":
            raise  # the function's module is there and one it imports is not: say which
        raise AttributeError(target) from None
    declared = getattr(module, "FUNCTION", None)
    if not isinstance(declared, Function):
        raise AttributeError(target)
    return declared.serve
