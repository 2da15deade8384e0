"""The shape of the code: one declaration per function, imports that run one way, and
nothing of local development in what is deployed."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from functions import main
from functions.catalogue import functions_by_name

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"
CONTRACT_FUNCTIONS = {
    "pause-activate",
    "pause-extend",
    "pause-resume",
    "interaction-gate",
    "pause-logger",
    "pause-status",
    "pause-settings",
    "pause-report",
    "auto-resume",
    "audit-export",
    "webhook-endpoints",
    "webhook-dispatch",
}
# Packages that exist for local development and tests only.
LOCAL_ONLY = ("pgserver", "functions.local", "playwright", "schemathesis", "respx", "pytest")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_every_contract_function_is_declared_once_and_is_a_deploy_target() -> None:
    declared = functions_by_name()
    assert set(declared) >= CONTRACT_FUNCTIONS
    for name, function in declared.items():
        assert getattr(main, name.replace("-", "_")) is function.serve


def test_importing_every_deploy_target_loads_nothing_local() -> None:
    code = (
        "import sys, functions.main as m, functions.openapi as o, functions.app as a;"
        "[getattr(m, f.target) for f in o.functions_by_name().values()]; a.create_app();"
        "print('\\n'.join(sorted(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    assert "functions.pause_activate" in loaded  # the check itself sees the functions
    assert [m for m in loaded if m.startswith(LOCAL_ONLY)] == []
    # Loaded by the one function that uses each, on its first call: every target's cold
    # start would pay for them otherwise.
    assert [m for m in loaded if m.split(".")[0] in {"boto3", "botocore", "supabase"}] == []


# The packages below the function modules, and what each may import of ours.
PACKAGES = {
    "shared": ("functions.shared",),
    "webhooks": ("functions.shared", "functions.webhooks"),
}


@pytest.mark.parametrize(
    "path",
    sorted(path for package in PACKAGES for path in (FUNCTIONS_DIR / package).glob("*.py")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_packages_import_no_function_module(path: Path) -> None:
    ours = {name for name in _imports(path) if name.startswith("functions")}
    assert all(name.startswith(PACKAGES[path.parent.name]) for name in ours), ours


@pytest.mark.parametrize(
    "path",
    sorted(
        p
        for p in FUNCTIONS_DIR.rglob("*.py")
        if p.stem != "__init__" and "local" not in p.relative_to(FUNCTIONS_DIR).parts
    ),
    ids=lambda p: str(p.relative_to(FUNCTIONS_DIR)),
)
def test_deployed_modules_never_import_local_development(path: Path) -> None:
    assert not any(name.startswith("functions.local") for name in _imports(path))


def test_function_modules_import_only_the_packages() -> None:
    for name in functions_by_name():
        path = FUNCTIONS_DIR / f"{name.replace('-', '_')}.py"
        ours = {module for module in _imports(path) if module.startswith("functions")}
        assert all(
            module.startswith(tuple(f"functions.{p}" for p in PACKAGES)) for module in ours
        ), (
            path,
            ours,
        )
