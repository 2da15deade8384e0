"""Local server processes, for the tests, the benchmark and the reliability harness: a free
port to give one, waiting until it listens, stopping it, and a process the harness owns with
its temporary directory."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Self


class NotListening(RuntimeError):
    """The process exited, or took too long, before its port accepted a connection."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now: for a server to take, or for a
    connection to be refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_listening(port: int, process: subprocess.Popen[Any], seconds: float) -> None:
    """Returns once 127.0.0.1:`port` accepts a connection; NotListening if `process` exits
    first or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise NotListening(f"exited ({process.returncode})")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise NotListening(f"did not listen in {seconds:g} s")


def stop(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    """SIGTERM; SIGKILL if it has not exited `timeout` seconds later."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


class OwnedProcess(ABC):
    """A process the harness starts, stops and may start again, with a temporary directory of
    its own: `with` starts it, and at the end stops it and removes the directory."""

    def __init__(self, prefix: str) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix=prefix)
        self.directory = Path(self._directory.name)
        self.process: subprocess.Popen[bytes] | None = None

    @abstractmethod
    def start(self) -> None:
        """Start the process, and return once it serves."""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM (SIGKILL if it lingers), unless it has exited already."""
        if self.process is not None and self.process.poll() is None:
            stop(self.process)
        self.process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exception: object) -> None:
        self.stop()
        self._directory.cleanup()
