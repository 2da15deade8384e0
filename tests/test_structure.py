"""The shape of the code: one declaration per function, imports that run one way, and
nothing of local development in what is deployed."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import main
from functions.catalogue import functions_by_name
from tests import lock
from tests.contract import CONTRACT_FUNCTIONS

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
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
        "import sys, main as m, functions.catalogue.openapi as o, functions.catalogue.app as a;"
        "[getattr(m, f.target) for f in o.functions_by_name().values()]; a.create_app();"
        "print('\\n'.join(sorted(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout.split()
    assert "functions.pause_activate" in loaded  # the check itself sees the functions
    assert [m for m in loaded if m.startswith(LOCAL_ONLY)] == []
    # Loaded by the one function that uses each, on its first call: every target's cold
    # start would pay for them otherwise.
    assert [m for m in loaded if m.split(".")[0] in {"boto3", "botocore", "supabase"}] == []


# The packages below the function modules, and what each may import of ours: itself and the
# packages below it. (local/ stands above everything and is never deployed; catalogue/ reads
# the function modules.)
LAYERS = {
    "shared": ("functions.shared",),
    "database": ("functions.shared", "functions.database"),
    "migrations": ("functions.shared", "functions.database", "functions.migrations"),
    "webhooks": ("functions.shared", "functions.database", "functions.webhooks"),
    "export": ("functions.shared", "functions.database", "functions.export"),
    "edge": ("functions.shared", "functions.edge"),
}


def test_every_package_has_its_place_in_the_layers() -> None:
    packages = {path.name for path in FUNCTIONS_DIR.iterdir() if any(path.glob("*.py"))}
    assert packages - {"local", "catalogue"} == set(LAYERS)


@pytest.mark.parametrize(
    "path",
    sorted(path for package in LAYERS for path in (FUNCTIONS_DIR / package).glob("*.py")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_packages_import_only_themselves_and_the_packages_below(path: Path) -> None:
    ours = {name for name in _imports(path) if name.startswith("functions")}
    assert all(name.startswith(LAYERS[path.parent.name]) for name in ours), ours


def _deployed() -> list[Path]:
    """Every module a deploy carries: the entry point and functions/ but functions/local."""
    found = [ROOT / "main.py", *FUNCTIONS_DIR.rglob("*.py")]
    return sorted(p for p in found if "local" not in p.relative_to(ROOT).parts)


@pytest.mark.parametrize("path", _deployed(), ids=lambda p: str(p.relative_to(ROOT)))
def test_deployed_modules_never_import_local_development(path: Path) -> None:
    assert not any(name.startswith(LOCAL_ONLY) for name in _imports(path))


def test_every_logger_of_deployed_code_writes_through_ours() -> None:
    """Children of `takeover` get its JSON-lines handler (functions/shared/logs.py)."""
    for path in _deployed():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "getLogger"
            ):
                [argument] = node.args
                named = ast.unparse(argument)
                assert re.fullmatch(r"'takeover(\.\w+)*'", named) or "ROOT_LOGGER" in named, path


def _third_party_imports(path: Path) -> set[str]:
    """The top-level modules `path` imports at run time (not under `if TYPE_CHECKING:`),
    other than the standard library's and ours."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for statement in node.body
        for inner in ast.walk(statement)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in {"functions", "main"}}


def test_every_package_deployed_code_imports_is_a_declared_dependency() -> None:
    """A package imported only because another one brings it along today may be gone
    tomorrow: pyproject.toml names each (requirements.txt then pins it)."""
    declared = {lock.canonical(r.name) for r in lock.runtime_dependencies()}
    distributions = metadata.packages_distributions()
    undeclared = {
        (str(path.relative_to(ROOT)), module)
        for path in _deployed()
        for module in _third_party_imports(path)
        if not {lock.canonical(d) for d in distributions.get(module, [module])} & declared
    }
    assert undeclared == set()


def test_function_modules_import_only_packages() -> None:
    for name in functions_by_name():
        path = FUNCTIONS_DIR / f"{name.replace('-', '_')}.py"
        ours = {module for module in _imports(path) if module.startswith("functions")}
        assert all(module.startswith(tuple(f"functions.{p}" for p in LAYERS)) for module in ours), (
            path,
            ours,
        )
