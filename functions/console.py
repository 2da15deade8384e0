"""The takeover console: the reference inbox page, served by the local server at `/`."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

STATIC = Path(__file__).with_name("static")

console = Blueprint("console", __name__)


@console.get("/")
def index() -> Response:
    return send_from_directory(STATIC, "index.html")
