"""A real Postgres under .data/, for `make run` and `make test` when DATABASE_URL is unset."""

from __future__ import annotations

import fcntl
import warnings
from pathlib import Path
from typing import Any

from functions.migrations import ROOT

DATA_DIR = ROOT / ".data"

_servers: dict[Path, Any] = {}


def start(name: str = "postgres") -> str:
    """Start (or join) the embedded server in .data/<name>; its connection URL. It stops
    when the last process using it exits."""
    pgdata = DATA_DIR / name
    pgdata.mkdir(parents=True, exist_ok=True)
    if pgdata not in _servers:
        with warnings.catch_warnings():
            # pgserver asks platformdirs for a runtime dir; without XDG_RUNTIME_DIR (CI,
            # containers) platformdirs warns and uses /tmp, which is what we want.
            warnings.simplefilter("ignore")
            from pgserver.postgres_server import get_server

        # One process at a time per data directory: as root, pgserver creates its system
        # user and hands the directory to it before its own lock, so two processes starting
        # at once on a new machine (make test's workers) race and one initdb fails.
        with (DATA_DIR / f".{name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            _servers[pgdata] = get_server(pgdata, cleanup_mode="stop")
    uri: str = _servers[pgdata].get_uri()
    return uri
