"""What is deployed, built and started the way each platform builds and starts it
(tests/deployed.py): from the files git tracks alone, with a venv of requirements.txt alone.

- Cloud Run functions: the upload (.gcloudignore), each of the catalogue's targets started
  as the buildpack starts it (`functions-framework`, FUNCTION_TARGET and PORT, main.py found
  at the root by default), every one answering a real request on a database migrated by
  `python -m functions.migrations` from the same venv;
- the container: the Dockerfile's COPY and RUN lines carried out on the build context
  (.dockerignore), and its CMD;
- and the files a build reads: the locks, .python-version, the Dockerfile.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from functions.catalogue import functions_by_name
from functions.local import demo
from functions.migrations import MIGRATIONS
from tests import deployed, lock, processes
from tests.contract import OPENAPI, raised_codes
from tests.databases import database_url, fresh_database
from tests.deployed import SECRET_KEY, container, secrets, stop, target, wait_until_listening
from tests.support import JWT_SECRET

ROOT = Path(__file__).resolve().parent.parent
ATTENDANT = demo.attendant_token(JWT_SECRET, demo.ATTENDANT_ID)
ADMIN = demo.attendant_token(JWT_SECRET, demo.ADMIN_ID)
CONVERSATION = str(demo.FIRST_CONVERSATION_ID)
WORKSPACE = str(demo.WORKSPACE_ID)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def request(url: str, method: str = "GET", body: Any = None, token: str | None = None) -> Answer:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    call = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(call, timeout=30) as answer:  # noqa: S310
            raw, status, answer_headers = answer.read(), answer.status, dict(answer.headers)
    except urllib.error.HTTPError as error:
        raw, status, answer_headers = error.read(), error.code, dict(error.headers)
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Answer(status, {k.lower(): v for k, v in answer_headers.items()}, parsed)


# ---------------------------------------------------------------------------
# What each platform builds
# ---------------------------------------------------------------------------


def test_the_upload_is_the_entry_point_the_lock_and_the_deployed_modules(upload: Path) -> None:
    files = {str(p.relative_to(upload)) for p in upload.rglob("*") if p.is_file()}
    modules = {
        str(p.relative_to(ROOT))
        for p in (ROOT / "functions").rglob("*")
        if p.is_file() and "local" not in p.parts and "__pycache__" not in p.parts
    }
    assert files == {"main.py", "requirements.txt", ".python-version"} | modules


def test_the_image_holds_the_entry_point_and_the_deployed_modules_compiled(
    image: deployed.Image,
) -> None:
    files = {str(p.relative_to(image.root)) for p in image.root.rglob("*.py")}
    assert "main.py" in files
    assert "functions/interaction_gate.py" in files
    assert [name for name in files if name.startswith("functions/local")] == []
    assert list(image.root.glob("functions/__pycache__/interaction_gate.*.pyc"))
    assert image.user not in (None, "root")


# ---------------------------------------------------------------------------
# A database migrated by the migration command from the requirements-only venv
# ---------------------------------------------------------------------------


@dataclass
class Migrated:
    direct_url: str  # as the tests and the migration command reach it
    url: str  # as the functions reach it (through the pooler, when CI runs one)
    said: str  # what the migration command printed


def migrate(checkout: Path, venv: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-m", "functions.migrations"],
        cwd=checkout,
        env=deployed.platform_environment(venv, DATABASE_DIRECT_URL=url),
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def migrated(
    server_url: str, functions_server_url: str, checkout: Path, venv: Path
) -> Iterator[Migrated]:
    with fresh_database(server_url, "takeover_deploy") as direct_url:
        ran = migrate(checkout, venv, direct_url)
        assert ran.returncode == 0, ran.stderr
        demo.seed_if_empty(direct_url)
        name = psycopg.conninfo.conninfo_to_dict(direct_url)["dbname"]
        yield Migrated(direct_url, database_url(functions_server_url, str(name)), ran.stdout)


def test_the_migration_command_migrates_a_fresh_database_from_requirements_alone(
    migrated: Migrated, checkout: Path, venv: Path
) -> None:
    versions = sorted(path.stem.partition("_")[0] for path in MIGRATIONS.glob("*.sql"))
    assert migrated.said == f"applied: {', '.join(versions)}\n"
    with psycopg.connect(migrated.direct_url) as db:
        recorded = db.execute(
            "select version from supabase_migrations.schema_migrations order by 1"
        ).fetchall()
    assert recorded == [(version,) for version in versions]

    again = migrate(checkout, venv, migrated.direct_url)
    assert (again.returncode, again.stdout) == (0, "applied: none pending\n")


def test_the_migration_command_names_a_database_that_does_not_exist(
    server_url: str, checkout: Path, venv: Path
) -> None:
    name = f"takeover_absent_{uuid4().hex[:8]}"
    ran = migrate(checkout, venv, database_url(server_url, name))

    assert ran.returncode == 1
    assert ran.stdout == ""
    assert ran.stderr == (
        f'DATABASE_DIRECT_URL: The database "{name}" does not exist on that server: create it'
        f' first (createdb {name}, or `create database "{name}"`), then run this again.\n'
    )


# ---------------------------------------------------------------------------
# Cloud Run functions: every target, as the buildpack starts it
# ---------------------------------------------------------------------------

# One request per function that reaches the database, in an order that tells a story on
# the demo conversation: (function, method, query or body, caller, status, what the answer
# says). The functions come from the catalogue: a new one fails the test until it is here.
SERVICE = SECRET_KEY
ON_IT = {"conversation_id": CONVERSATION}
OF_IT = {"workspace_id": WORKSPACE}


@dataclass(frozen=True)
class Step:
    function: str
    method: str
    values: dict[str, Any]  # the body, or the query of a GET
    token: str
    says: dict[str, Any]  # what the answer holds, among the rest
    status: int = 200


STORY = [
    Step(
        "pause-activate", "POST", ON_IT | {"duration_minutes": 15}, ATTENDANT, {"ai_mode": "paused"}
    ),
    Step(
        "pause-extend",
        "POST",
        ON_IT | {"duration_minutes": 15},
        ATTENDANT,
        {"duration_minutes": 30},
    ),
    Step("interaction-gate", "POST", ON_IT | {"message_id": "m-1"}, SERVICE, {"allowed": False}),
    Step(
        "pause-logger",
        "POST",
        ON_IT | {"action": "interaction_blocked", "message_id": "m-2"},
        SERVICE,
        {},  # its event id: the trail below has the row
    ),
    Step("pause-status", "GET", ON_IT, ATTENDANT, {"ai_mode": "paused", "duration_minutes": 30}),
    Step("pause-resume", "POST", ON_IT, ATTENDANT, {"ai_mode": "active"}),
    Step("auto-resume", "POST", {}, SERVICE, {"resumed": 0, "conversation_ids": []}),
    Step("pause-settings", "GET", OF_IT, ATTENDANT, OF_IT),
    Step("pause-report", "GET", OF_IT, ATTENDANT, {"pauses": 1, "blocked_messages": 2}),
    Step("webhook-endpoints", "GET", OF_IT, ADMIN, {"endpoints": []}),
    Step("webhook-dispatch", "POST", {}, SERVICE, {"delivered": 0, "failed": 0}),
    # Without a bucket, the export's own contract answer: nothing to reach.
    Step("audit-export", "POST", {}, SERVICE, {}, status=409),
    # A human answered: the AI pauses by itself.
    Step("human-reply", "POST", ON_IT | {"message_id": "h-1"}, ATTENDANT, {"changed": True}),
]


def assert_the_gate_allows(url: str, conversation: str) -> None:
    """The agent's gate call on a conversation nobody paused: 200, allowed."""
    gate = request(url, "POST", {"conversation_id": conversation, "message_id": "m-1"}, SERVICE)
    assert (gate.status, gate.body["allowed"]) == (200, True)


def send(base: str, method: str, values: dict[str, Any], token: str) -> Answer:
    if method == "GET":
        query = "&".join(f"{name}={value}" for name, value in values.items())
        return request(f"{base}/?{query}", token=token)
    return request(f"{base}/", method, values, token)


def test_the_story_covers_the_catalogue_once() -> None:
    assert sorted(step.function for step in STORY) == sorted(functions_by_name())


def test_every_target_as_the_buildpack_starts_it_answers_from_the_migrated_database(
    upload: Path, venv: Path, migrated: Migrated
) -> None:
    servers = {
        name: target(upload, venv, name, secrets(migrated.url)) for name in functions_by_name()
    }
    try:
        # Started together: the slow part, each process's imports, overlaps.
        with ThreadPoolExecutor(max_workers=len(servers)) as threads:
            list(threads.map(wait_until_listening, servers.values()))

        for step in STORY:
            server = servers[step.function]
            answer = send(server.base, step.method, step.values, step.token)
            assert answer.status == step.status, (step, answer.body, server.output())
            assert answer.body | step.says == answer.body, (step, answer.body)

        with psycopg.connect(migrated.direct_url) as db:
            trail = db.execute(
                "select action::text, triggered_by, message_id from ai_pause_logs"
                " where conversation_id = %s order by id",
                (CONVERSATION,),
            ).fetchall()
        attendant = str(demo.ATTENDANT_ID)
        assert trail == [
            ("pause_activated", attendant, None),
            ("extend_pause", attendant, None),
            ("interaction_blocked", "ai_agent", "m-1"),
            ("interaction_blocked", "ai_agent", "m-2"),
            ("force_resume", attendant, None),
            ("pause_activated", attendant, None),
        ]

        for name, server in servers.items():
            function = functions_by_name()[name]
            method = next(iter(function.routes))
            body: dict[str, Any] | None = {} if method != "GET" else None
            # Whatever the path, the target is its function, never the console.
            refused = request(f"{server.base}/console/session", method, body)
            assert refused.status == 401, name
            assert refused.body["error"]["code"] == "missing_token"
            if "POST" not in function.routes:
                assert request(f"{server.base}/", "POST", {}, SERVICE).status == 405, name
    finally:
        stop(list(servers.values()))


def test_a_target_connects_as_it_starts_not_at_its_first_request(
    upload: Path, venv: Path, server_url: str, db_name: str, db: psycopg.Connection[Any]
) -> None:
    # Directly, not through a pooler: PgBouncer would open no server connection before a
    # query, and the backend is what shows the connection was made.
    application = f"takeover-early-{uuid4().hex[:8]}"
    variables = secrets(database_url(server_url, db_name), PGAPPNAME=application)
    server = target(upload, venv, "interaction-gate", variables)
    try:
        wait_until_listening(server)
        deadline = time.monotonic() + 30
        connected = None
        while connected is None and time.monotonic() < deadline:
            connected = db.execute(
                "select 1 from pg_stat_activity where application_name = %s", (application,)
            ).fetchone()
            time.sleep(0.05)
        assert connected is not None, "no connection before the first request"
        assert_the_gate_allows(f"{server.base}/", CONVERSATION)
    finally:
        stop([server])


def test_a_target_without_its_database_starts_and_answers_503(upload: Path, venv: Path) -> None:
    nothing_there = f"postgresql://postgres@127.0.0.1:{processes.free_port()}/none"
    server = target(
        upload, venv, "interaction-gate", secrets(nothing_there, DATABASE_TIMEOUT_SECONDS="1")
    )
    try:
        wait_until_listening(server)
        body = {"conversation_id": CONVERSATION, "message_id": "m-1"}
        gate = request(f"{server.base}/", "POST", body, SERVICE)
        assert gate.status == 503
        assert gate.body["error"]["code"] == "database_unavailable"
        assert gate.headers["retry-after"] == "2"
        assert server.process.poll() is None
    finally:
        stop([server])


def test_a_target_whose_database_does_not_exist_answers_500_naming_it_in_the_log(
    upload: Path, venv: Path, functions_server_url: str
) -> None:
    """A wrong or not yet created database is the operator's to fix: agents must not retry
    it as an outage."""
    name = f"takeover_absent_{uuid4().hex[:8]}"
    variables = secrets(database_url(functions_server_url, name), DATABASE_TIMEOUT_SECONDS="1")
    server = target(upload, venv, "interaction-gate", variables)
    try:
        wait_until_listening(server)
        body = {"conversation_id": CONVERSATION, "message_id": "m-1"}
        gate = request(f"{server.base}/", "POST", body, SERVICE)
    finally:
        stop([server])
    assert gate.status == 500
    assert gate.body["error"]["code"] == "server_misconfigured"
    assert "retry-after" not in gate.headers
    [line] = [
        json.loads(line)
        for line in server.output().splitlines()
        if '"logger": "takeover.request"' in line
    ]
    assert line["severity"] == "ERROR"
    assert line["cause"].startswith(f'the server of DATABASE_URL has no database "{name}"')


def python_in(upload: Path, venv: Path, code: str) -> subprocess.CompletedProcess[str]:
    """`code` run in the upload's root by the venv's Python, as an instance would."""
    return subprocess.run(
        ["python", "-c", code],
        cwd=upload,
        env=deployed.platform_environment(venv, **secrets("postgresql://127.0.0.1:1/x")),
        check=True,
        capture_output=True,
        text=True,
    )


def test_a_single_target_imports_its_own_function_only(upload: Path, venv: Path) -> None:
    """A cold start pays for one function: main.py resolves the target asked for without
    the catalogue."""
    code = "import sys, main; main.interaction_gate; print('\\n'.join(sorted(sys.modules)))"
    loaded = python_in(upload, venv, code).stdout.split()
    assert "functions.interaction_gate" in loaded
    assert [m for m in loaded if m.startswith("functions.pause_")] == []
    # PyJWT and cryptography load with the first token to verify: callers that send secret
    # keys never pay for them.
    assert [m for m in loaded if m.split(".")[0] in {"jwt", "cryptography"}] == []


def test_every_logger_writes_one_json_line_with_its_severity_info_included(
    upload: Path, venv: Path
) -> None:
    code = (
        "import logging, main; main.interaction_gate\n"
        "for name in ('takeover', 'takeover.identity', 'takeover.webhooks'):\n"
        "    logging.getLogger(name).info('said by %s', name)\n"
        "logging.getLogger('takeover.identity').warning('and a warning')\n"
    )
    ran = python_in(upload, venv, code)
    assert ran.stderr == ""
    assert [json.loads(line) for line in ran.stdout.splitlines()] == [
        {"severity": "INFO", "message": "said by takeover", "logger": "takeover"},
        {"severity": "INFO", "message": "said by takeover.identity", "logger": "takeover.identity"},
        {"severity": "INFO", "message": "said by takeover.webhooks", "logger": "takeover.webhooks"},
        {"severity": "WARNING", "message": "and a warning", "logger": "takeover.identity"},
    ]


# ---------------------------------------------------------------------------
# The container: what the Dockerfile builds, started with its CMD
# ---------------------------------------------------------------------------


def test_the_container_serves_every_function_and_health_without_the_console(
    image: deployed.Image, venv: Path, migrated: Migrated
) -> None:
    server = container(image, venv, secrets(migrated.url))
    try:
        wait_until_listening(server)
        base = server.base
        for name, function in functions_by_name().items():
            method = next(iter(function.routes))
            refused = request(
                f"{base}/functions/v1/{name}", method, body={} if method != "GET" else None
            )
            assert refused.status == 401, name
            assert refused.body["error"]["code"] == "missing_token"
            assert set(refused.body["error"]) >= {"code", "message", "details"}
            assert refused.headers["x-request-id"]

        assert_the_gate_allows(
            f"{base}/functions/v1/interaction-gate", str(demo.SALES_CONVERSATION_ID)
        )
        assert request(f"{base}/health").status == 200
        assert "/functions/v1/interaction-gate" in request(f"{base}/openapi.json").body["paths"]
        for console_path in ("/", "/console/session", "/static/app.js"):
            answer = request(f"{base}{console_path}")
            assert answer.status == 404, console_path
            assert answer.body["error"]["code"] == "not_found"
    finally:
        stop([server])


def test_the_container_with_a_bad_variable_stops_naming_it(
    image: deployed.Image, venv: Path, db_url: str
) -> None:
    server = container(image, venv, secrets(db_url, DATABASE_POOL_SIZE="lots"))
    try:
        server.process.wait(timeout=120)
    finally:
        stop([server])
    assert server.process.returncode != 0
    assert "DATABASE_POOL_SIZE='lots'" in server.output()


def test_the_container_with_nothing_to_verify_with_says_so_at_start(
    image: deployed.Image, venv: Path, db_url: str
) -> None:
    server = container(image, venv, {"DATABASE_URL": db_url})
    try:
        wait_until_listening(server)
        answer = request(f"{server.base}/functions/v1/auto-resume", "POST", {}, SERVICE)
    finally:
        stop([server])
    output = server.output()
    assert answer.status == 500
    assert answer.body["error"]["code"] == "server_misconfigured"
    assert "retry-after" not in answer.headers
    # Said as the instance started, before any request, as a JSON line of its own.
    said = output.index(
        '"severity": "ERROR", "message": "server_misconfigured: no SUPABASE_JWT_SECRET'
    )
    assert said < output.index('"function": "auto-resume"')


# ---------------------------------------------------------------------------
# The files a build reads
# ---------------------------------------------------------------------------


def test_requirements_txt_pins_what_the_tests_ran_on() -> None:
    """Every package a deployed function needs, at the version installed here (from the
    dev lock, which agrees): what the tests pass on is what a deploy installs."""
    assert lock.pins(lock.RUNTIME_LOCK) == lock.closure(lock.runtime_dependencies())


def test_the_dev_lock_is_what_is_installed_and_agrees_with_the_runtime_lock() -> None:
    dev = lock.pins(lock.DEV_LOCK)
    installed = {name: metadata.version(name) for name in dev}
    assert installed == dev, "run `make test` again: it installs requirements-dev.txt"
    needed = lock.closure(lock.runtime_dependencies() + lock.development_dependencies())
    assert set(needed) - set(dev) == set(), "run `make requirements`"
    assert {name: dev[name] for name in lock.pins(lock.RUNTIME_LOCK)} == lock.pins(
        lock.RUNTIME_LOCK
    )


def test_every_runtime_dependency_is_pinned_within_its_range() -> None:
    pins = lock.pins(lock.RUNTIME_LOCK)
    for dependency in lock.runtime_dependencies():
        pinned = pins.get(lock.canonical(dependency.name))
        assert pinned is not None, f"{dependency.name} is not pinned"
        assert dependency.specifier.contains(pinned), f"{dependency.name}=={pinned}"


def test_no_development_package_is_deployed() -> None:
    pinned = lock.pins(lock.RUNTIME_LOCK)
    for development in ("pgserver", "pytest", "playwright", "schemathesis", "respx", "ruff"):
        assert development not in pinned


def test_the_python_version_and_the_dockerfile_agree_with_what_is_tested() -> None:
    python = (ROOT / ".python-version").read_text().strip()
    assert python == f"{sys.version_info.major}.{sys.version_info.minor}"
    instructions = deployed.dockerfile_instructions((ROOT / "Dockerfile").read_text())
    assert ("FROM", f"python:{python}-slim") in instructions
    [command] = [
        json.loads(arguments) for instruction, arguments in instructions if instruction == "CMD"
    ]
    shell, flag, line = command
    # The one entry point, on the port Cloud Run gives.
    assert (shell, flag) == ("sh", "-c")
    assert line.startswith("exec gunicorn main:app --bind 0.0.0.0:${PORT}")


# ---------------------------------------------------------------------------
# The API description operators and clients read
# ---------------------------------------------------------------------------


def test_every_error_code_the_code_raises_is_in_the_described_enum() -> None:
    raised = set(raised_codes())
    described = set(OPENAPI["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["enum"])
    assert raised - described == set()
    assert {"server_misconfigured", "database_unavailable", "already_paused"} <= described


def test_the_description_names_its_headers_and_health() -> None:
    for function in functions_by_name().values():
        for method, route in function.routes.items():
            operation = OPENAPI["paths"][f"/functions/v1/{function.name}"][method.lower()]
            names = {
                parameter.get("$ref", "").rsplit("/", 1)[-1]
                for parameter in operation["parameters"]
            }
            assert ("IdempotencyKey" in names) is route.idempotent, (function.name, method)
            assert "RequestId" in names
            unavailable = operation["responses"]["503"]["headers"]
            assert set(unavailable) == {"X-Request-Id", "Retry-After"}
            assert "500" in operation["responses"]
    assert set(OPENAPI["paths"]["/health"]["get"]["responses"]) == {"200", "500", "503"}
