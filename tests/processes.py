"""Local server processes, for the tests, the benchmark and the reliability harness: a free
port to give one, waiting until it listens, and stopping it."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from typing import Any


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
