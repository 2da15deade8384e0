"""Generate takeover_client/_sync/ from takeover_client/_async/ with unasync, as httpcore
does: the client is written once, async, and its sync twin is derived and committed (the
client installs without unasync). `make client` writes it; tests/test_client.py checks that
it is current.

    python clients/python/generate_sync.py           # write _sync/
    python clients/python/generate_sync.py --check   # exit 1 when _sync/ is not current
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import unasync  # type: ignore[import-untyped]

PACKAGE = Path(__file__).resolve().parent / "takeover_client"
SOURCES = ("client.py", "transport.py")
# Beyond unasync's own (async def, await, __aenter__, AsyncIterator, ...): the async names
# of httpx, httpcore and asyncio, and ours, whose sync twins are not "Sync" + the rest.
REPLACEMENTS = {
    "AsyncTakeoverClient": "TakeoverClient",
    "AsyncDeadlineTransport": "DeadlineTransport",
    "AsyncDeadlineBackend": "DeadlineBackend",
    "AsyncDeadlineStream": "DeadlineStream",
    "AsyncClient": "Client",
    "AsyncHTTPTransport": "HTTPTransport",
    "AsyncConnectionPool": "ConnectionPool",
    "AsyncNetworkBackend": "NetworkBackend",
    "AsyncNetworkStream": "NetworkStream",
    "AnyIOBackend": "SyncBackend",
    "aclose": "close",
    "aiter_bytes": "iter_bytes",
    "asyncio": "time",
    "_async": "_sync",
}
HEADER = "# Generated from takeover_client/_async/{name} by unasync (make client): do not edit.\n"


def generated() -> dict[Path, str]:
    """Each file of _sync/ as it must read."""
    with tempfile.TemporaryDirectory() as temporary:
        sources = Path(temporary) / "_async"
        sources.mkdir()
        for name in SOURCES:
            shutil.copy(PACKAGE / "_async" / name, sources / name)
        rule = unasync.Rule("/_async/", "/_sync/", additional_replacements=REPLACEMENTS)
        unasync.unasync_files([str(sources / name) for name in SOURCES], [rule])
        return {
            PACKAGE / "_sync" / name: _formatted(
                PACKAGE / "_sync" / name,
                HEADER.format(name=name) + (Path(temporary) / "_sync" / name).read_text(),
            )
            for name in SOURCES
        }


def _formatted(path: Path, text: str) -> str:
    """`text` as ruff leaves it under the project's settings for `path`: dropping `await`
    shortens lines, and renaming can reorder imports."""
    for command in (["check", "--fix", "--select", "I"], ["format"]):
        text = subprocess.run(  # noqa: S603 (our own command line)
            [sys.executable, "-m", "ruff", *command, "--quiet", "--stdin-filename", str(path), "-"],
            input=text,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say whether _sync/ is current")
    arguments = parser.parse_args()
    files = generated()
    if arguments.check:
        stale = [
            path for path, text in files.items() if not path.exists() or path.read_text() != text
        ]
        for path in stale:
            print(f"{path} is not what _async/ generates: run make client", file=sys.stderr)
        return 1 if stale else 0
    for path, text in files.items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
