"""The function process (a subprocess, so the harness never shares its GIL or its pool) and
an HTTP client for it over 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests import processes

ROOT = Path(__file__).resolve().parents[2]
# The client gives up on an answer after this long: a request still open then is a hang.
CLIENT_TIMEOUT_SECONDS = 30.0


class ServerProcess(processes.OwnedProcess):
    """`python -m tests.reliability.serve` on `database_url`, its stdout in a file."""

    def __init__(
        self,
        database_url: str,
        jwt_secret: str,
        *,
        db_timeout_seconds: float,
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__("takeover-reliability-")
        self.port_file = self.directory / "port"
        self.stdout_path = self.directory / "stdout.jsonl"
        self.stderr_path = self.directory / "stderr.log"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"SUPABASE_URL", "SUPABASE_JWKS_URL", "SUPABASE_SERVICE_ROLE_KEY"}
        }
        self.env.update(
            DATABASE_URL=database_url,
            SUPABASE_JWT_SECRET=jwt_secret,
            DATABASE_TIMEOUT_SECONDS=f"{db_timeout_seconds:g}",
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        self.env.update(env or {})
        self.port = 0

    def start(self, wait_seconds: float = 30.0) -> None:
        with self.stdout_path.open("wb") as stdout, self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.reliability.serve", str(self.port_file)],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the function process exited: {self.stderr()[-2000:]}")
            text = self.port_file.read_text() if self.port_file.exists() else ""
            if text.strip():
                self.port = int(text)
                return
            time.sleep(0.05)
        raise RuntimeError("the function process did not start listening")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def request_log(self) -> tuple[Counter[str], dict[str, int], int]:
        """The structured request log lines on stdout: how many per request id, the status
        each logged, and the number of lines that are not JSON request lines."""
        per_id: Counter[str] = Counter()
        statuses: dict[str, int] = {}
        other = 0
        if not self.stdout_path.exists():
            return per_id, statuses, other
        with self.stdout_path.open(errors="replace") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    other += 1
                    continue
                if not isinstance(record, dict) or "request_id" not in record:
                    other += 1
                    continue
                request_id = str(record["request_id"])
                per_id[request_id] += 1
                statuses[request_id] = int(record.get("status", 0))
        return per_id, statuses, other


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # the parsed JSON, or None when unreadable
    headers: dict[str, str]  # names in lower case
    seconds: float


class Client:
    """One keep-alive connection; reconnects after any transport error."""

    def __init__(self, port: int, timeout: float = CLIENT_TIMEOUT_SECONDS) -> None:
        self.port = port
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None,
        body: Any = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """Send one request; transport errors are raised (OSError, HTTPException)."""
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        data: bytes | None = None
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        if query:
            path = f"{path}?{urlencode(query)}"
        if self._connection is None:
            self._connection = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=self.timeout
            )
        started = time.monotonic()
        try:
            self._connection.request(method, path, body=data, headers=all_headers)
            response = self._connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        seconds = time.monotonic() - started
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        headers = {name.lower(): value for name, value in response.getheaders()}
        return Answer(response.status, parsed, headers, seconds)
