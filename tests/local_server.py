"""The local server (`make run`, `python -m functions.local.server`) as a process on a test's
database, and calls to it over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.processes import free_port
from tests.support import JWT_SECRET


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def http(
    method: str, url: str, token: str | None = None, body: Any = None
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 (http://127.0.0.1 only)
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            **(bearer(token) if token is not None else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    output: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_until_healthy(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output.read_text()
            try:
                if http("GET", f"{self.base}/health")[0] == 200:
                    return
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server never became healthy:\n{self.output.read_text()}")


@contextlib.contextmanager
def started_server(
    db_url: str, project_root: Path, tmp_path: Path, **variables: str | None
) -> Iterator[Server]:
    """`python -m functions.local.server` on the test's database; a variable given None is
    left out of its environment."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "PORT": str(port),
        "AUTO_RESUME_INTERVAL_SECONDS": "1",
        "SUPABASE_JWT_SECRET": JWT_SECRET,
        **{name: value for name, value in variables.items() if value is not None},
    }
    for name in ("SUPABASE_URL", *(name for name, value in variables.items() if value is None)):
        env.pop(name, None)
    output = tmp_path / "server.log"
    with output.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "functions.local.server"],
            cwd=project_root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    running = Server(process, port, output)
    try:
        running.wait_until_healthy()
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
