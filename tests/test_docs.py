"""The docs keep in step with the code: the reference (docs/api.md) names every function, its
methods and callers, and every error code with its status; docs/configuration.md every
variable with its default; every link resolves inside the repository, which points nowhere
outside itself; the README stays a front door."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

from functions.catalogue import functions_by_name
from functions.shared import errors
from functions.shared.config import Config
from functions.webhooks.events import EVENT_TYPES
from tests.contract import OPENAPI, raised_codes

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
API = DOCS / "api.md"
README = ROOT / "README.md"
# The pages the README's map must link (issue 18): each must exist.
MAP = (
    "api",
    "inbox-integration",
    "deploy",
    "webhooks",
    "reports",
    "audit-export",
    "configuration",
    "reliability",
    "performance",
    "structure",
)
# What a file of the repository must not point at: the folder beside it, and the contract
# this project's own reference replaced.
OUTSIDE = ("../shared", "CONTRACT.md")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
# A method of a function as api.md introduces it: "`POST /functions/v1/pause-activate` · ...".
_METHOD_LINE = re.compile(r"^`(GET|POST|PUT|DELETE) /functions/v1/([a-z-]+)`(.*)$", re.MULTILINE)
_ERROR_ROW = re.compile(r"^\| `([a-z_]+)` \| (\d{3}) \|", re.MULTILINE)
_VARIABLE_ROW = re.compile(r"^\| `([A-Z0-9_]+)` \| ([^|]*) \|", re.MULTILINE)


@cache
def _files() -> tuple[Path, ...]:
    """What a commit of the worktree holds: the tracked files and the new ones git would add."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return tuple(ROOT / name for name in listed.split("\0") if name and (ROOT / name).exists())


def _text_files() -> list[tuple[Path, str]]:
    """Every text file of the repository but this one, which names what it looks for."""
    texts = []
    for path in _files():
        if path == Path(__file__).resolve():
            continue
        data = path.read_bytes()
        if b"\0" not in data[:8192]:
            texts.append((path, data.decode("utf-8", errors="replace")))
    return texts


def _markdown() -> list[Path]:
    return [
        README,
        *sorted(DOCS.glob("*.md")),
        ROOT / "clients" / "python" / "README.md",
        ROOT / "bench" / "PERFORMANCE.md",
    ]


def _prose(text: str) -> str:
    """The text without its fenced code blocks, whose `#` lines and brackets are code."""
    lines, in_code = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_code = not in_code
            continue
        if not in_code:
            lines.append(line)
    return "\n".join(lines)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text without links' targets, lower case, without
    punctuation, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for line in _prose(path.read_text()).splitlines():
        heading = _HEADING.match(line)
        if heading is None:
            continue
        slug = _slug(heading.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _sections(path: Path) -> dict[str, str]:
    """The text under each `## ` heading, by heading."""
    sections: dict[str, list[str]] = {}
    current: list[str] = []  # what comes before the first section: no one's
    for line in _prose(path.read_text()).splitlines():
        heading = _HEADING.match(line)
        if heading is not None and len(heading.group(1)) == 2:
            current = sections.setdefault(heading.group(2), [])
            continue
        current.append(line)
    return {name: "\n".join(lines) for name, lines in sections.items()}


def _links(path: Path) -> list[str]:
    prose = _prose(path.read_text())
    return [match.group(1) for match in (*_LINK.finditer(prose), *_REFERENCE.finditer(prose))]


def test_every_function_has_its_section_in_the_reference_naming_each_method_and_caller() -> None:
    sections = _sections(API)
    declared = functions_by_name()
    named = {(match.group(1), match.group(2)) for match in _METHOD_LINE.finditer(API.read_text())}
    # Every method api.md introduces is a route of the catalogue, and every route is there.
    assert named == {(method, name) for name, f in declared.items() for method in f.routes}
    for name, function in declared.items():
        assert name in sections, f"docs/api.md has no section `## {name}`"
        lines = {
            match.group(1): match.group(3)
            for match in _METHOD_LINE.finditer(sections[name])
            if match.group(2) == name
        }
        assert set(lines) == set(function.routes), name
        for method, route in function.routes.items():
            callers, *rest = [part.strip() for part in lines[method].split("·")[1:]]
            assert callers == route.callers_text, (name, method)
            assert any("Idempotency-Key" in part for part in rest) is route.idempotent, (
                name,
                method,
            )


def _raised() -> dict[str, set[int]]:
    """Every code the code raises, with the statuses it raises it with."""
    statuses = {
        code: {exception.status for exception in exceptions}
        for code, exceptions in raised_codes().items()
    }
    made = [
        errors.MethodNotAllowed(frozenset()),
        errors.ServerMisconfigured("", ""),
        errors.database_unavailable(),
        *(
            errors.refusal({"code": code, "message": code})
            for code in errors.error_codes()
            if code not in errors.EDGE_CODES
        ),
    ]
    for error in made:
        statuses.setdefault(error.code, set()).add(error.status)
    return statuses


def test_every_error_code_is_in_the_reference_with_its_status() -> None:
    documented = {
        match.group(1): int(match.group(2))
        for match in _ERROR_ROW.finditer(_sections(API)["Errors"])
    }
    described = OPENAPI["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["enum"]
    raised = _raised()
    assert set(documented) == {*errors.error_codes(), *described, *raised}
    for code, statuses in raised.items():
        assert statuses == {documented[code]}, code


@pytest.mark.parametrize(
    ("page", "section"), [("api.md", "Webhook events"), ("webhooks.md", "The events")]
)
def test_the_webhook_event_types_are_listed_each_once_in_their_order(
    page: str, section: str
) -> None:
    listed = re.findall(r"^\| `(takeover\.[a-z_]+)` \|", _sections(DOCS / page)[section], re.M)
    assert tuple(listed) == EVENT_TYPES


def _env_names(field_alias: object) -> list[str]:
    return [str(name) for name in getattr(field_alias, "choices", [field_alias])]


def test_every_variable_of_the_configuration_is_in_its_page_with_its_default() -> None:
    rows = {
        match.group(1): match.group(2).strip()
        for match in _VARIABLE_ROW.finditer((DOCS / "configuration.md").read_text())
    }
    for field in Config.model_fields.values():
        default = field.default
        if default is None or default == ():
            expected = "unset"
        elif isinstance(default, bool):
            expected = "`1`" if default else "`0`"
        elif isinstance(default, int | float):
            expected = f"`{int(default)}`" if float(default).is_integer() else f"`{default}`"
        else:
            expected = f"`{default}`"
        for name in _env_names(field.validation_alias):
            assert name in rows, f"docs/configuration.md has no row for {name}"
            assert rows[name].startswith(expected), (name, rows[name])


def test_the_readme_is_a_front_door_under_200_lines_with_its_map() -> None:
    assert len(README.read_text().splitlines()) < 200
    linked = {link.split("#")[0] for link in _links(README)}
    for page in MAP:
        assert f"docs/{page}.md" in linked, page


@pytest.mark.parametrize("path", _markdown(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file_and_heading_of_the_repository(
    path: Path,
) -> None:
    files = set(_files())
    for link in _links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", link):  # https:, mailto:
            continue
        target, _, anchor = link.partition("#")
        resolved = (path.parent / target).resolve() if target else path
        assert resolved.is_relative_to(ROOT), (path.name, link)
        assert resolved in files or any(file.is_relative_to(resolved) for file in files), (
            path.name,
            link,
        )
        if anchor and resolved.suffix == ".md":
            assert anchor in _anchors(resolved), (path.name, link)


def test_every_docs_page_is_reachable_from_the_readme_or_another_page() -> None:
    linked = set()
    for path in _markdown():
        for link in _links(path):
            target = link.partition("#")[0]
            if target:
                linked.add((path.parent / target).resolve())
    for page in DOCS.glob("*.md"):
        assert page.resolve() in linked, page.name


def test_no_file_points_outside_the_repository() -> None:
    for path, text in _text_files():
        for pointer in OUTSIDE:
            assert pointer not in text, (str(path.relative_to(ROOT)), pointer)


def test_every_docs_page_a_file_names_exists() -> None:
    missing = {
        (str(path.relative_to(ROOT)), match.group(0))
        for path, text in _text_files()
        for match in re.finditer(r"\bdocs/([\w-]+\.md)", text)
        if not (DOCS / match.group(1)).exists()
    }
    assert missing == set()
