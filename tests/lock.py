"""The locks as the tests read them: requirements.txt (what a deploy installs) and
requirements-dev.txt (that, plus the local server's packages and the test and lint tools),
both written by `make requirements`, and the packages installed here, which must be theirs."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_LOCK = ROOT / "requirements.txt"
DEV_LOCK = ROOT / "requirements-dev.txt"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    """{canonical name: version} of a pip-compile lock."""
    found = {}
    for line in lock.read_text().splitlines():
        if match := _PIN.match(line):
            found[canonical(match.group(1))] = match.group(2)
    return found


def _project(path: Path) -> dict[str, object]:
    project: dict[str, object] = tomllib.loads(path.read_text())["project"]
    return project


def runtime_dependencies() -> list[Requirement]:
    dependencies = _project(ROOT / "pyproject.toml")["dependencies"]
    assert isinstance(dependencies, list)
    return [Requirement(text) for text in dependencies]


def development_dependencies() -> list[Requirement]:
    """Everything the dev lock covers beyond the runtime: the `local` and `dev` extras, and
    the client's own dependencies."""
    extras = _project(ROOT / "pyproject.toml")["optional-dependencies"]
    assert isinstance(extras, dict)
    client = _project(ROOT / "clients" / "python" / "pyproject.toml")["dependencies"]
    assert isinstance(client, list)
    return [Requirement(text) for text in [*extras["local"], *extras["dev"], *client]]


def closure(roots: list[Requirement]) -> dict[str, str]:
    """{canonical name: installed version} of the roots and everything they require, on
    this Python and platform (markers evaluated), with the extras asked for."""
    found: dict[str, str] = {}
    pending = [(requirement, frozenset(requirement.extras)) for requirement in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        requirement, extras = pending.pop()
        name = canonical(requirement.name)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        distribution = metadata.distribution(requirement.name)
        found[name] = distribution.version
        for text in distribution.requires or []:
            child = Requirement(text)
            environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            if child.marker is None or any(child.marker.evaluate(env) for env in environments):
                pending.append((child, frozenset(child.extras)))
    return found
