"""Every function of the contract in one WSGI app, for a container (Cloud Run, or any host):
each at /functions/v1/<name>, as Supabase serves its functions, plus /health and
/openapi.json. No console, no demo sessions: those are the local server's.

    gunicorn main:app        (main.py at the source root: the one entry point)

The local server (functions/local/server.py) builds on create_app() and adds its console.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from functions.catalogue import functions_by_name
from functions.database.instance import database
from functions.edge.http import Function, error_response, json_response
from functions.edge.identity import check_configuration
from functions.shared.config import config
from functions.shared.errors import ApiError, MethodNotAllowed, NotFound

OPENAPI_DOCUMENT = Path(__file__).resolve().parents[1] / "openapi.json"
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_app() -> Flask:
    app = Flask("takeover")
    for name, function in functions_by_name().items():
        app.add_url_rule(
            f"/functions/v1/{name}", endpoint=name, view_func=_view(function), methods=_ALL_METHODS
        )
    app.add_url_rule("/health", view_func=health)
    app.add_url_rule("/openapi.json", view_func=openapi)

    @app.errorhandler(404)
    def unknown_route(_: Exception) -> Response:
        return error_response(NotFound("not_found", f"No function at {request.path}."))

    @app.errorhandler(405)
    def wrong_method(error: HTTPException) -> Response:
        # A method no rule lists (TRACE, say): a function answers it itself, logged and in
        # its own terms; the other routes answer here.
        name = request.path.removeprefix("/functions/v1/")
        function = functions_by_name().get(name)
        if function is not None:
            return _view(function)()
        allowed = getattr(error, "valid_methods", None) or ()
        return error_response(MethodNotAllowed(frozenset(allowed)))

    return app


def _view(function: Function) -> Callable[[], Response]:
    def view() -> Response:
        return function.handle(request)

    return view


def health() -> Response:
    try:
        database().ping()
    except ApiError as error:
        return error_response(error)
    return json_response(200, '{"status":"ok"}')


def openapi() -> Response:
    return json_response(200, OPENAPI_DOCUMENT.read_text())


@cache
def production_app() -> Flask:
    """The app as a server process starts it: a bad variable stops the process, and a
    deployment that can verify no credential says so, before the first request. (An
    exception, not SystemExit: gunicorn halts on a worker that fails to boot, but would
    start again one that exits.)"""
    config()
    check_configuration()
    return create_app()
