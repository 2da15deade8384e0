"""requirements.txt from pyproject.toml's runtime dependencies: every package a deployed
function imports, with what they need in turn, pinned at the version installed here (the
versions the tests ran on).

    python -m tests.lock > requirements.txt        (make requirements)
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
HEADER = """\
# What a deployed function installs: pyproject.toml's runtime dependencies and theirs,
# pinned at the versions the tests ran on. Regenerate with `make requirements`;
# tests/test_deploy.py checks it is current.
"""


def runtime_dependencies() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in project["dependencies"]]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


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


def render() -> str:
    pins = closure(runtime_dependencies())
    return HEADER + "".join(f"{name}=={pins[name]}\n" for name in sorted(pins))


if __name__ == "__main__":
    print(render(), end="")
