"""What is deployed, started the way production starts it: the all-in-one app under
gunicorn (Cloud Run, the Dockerfile), and each function alone under functions-framework
(Cloud Run functions, one target each), as real processes on the test's database; and the
files a build reads (requirements.txt, .python-version, the Dockerfile)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from functions.catalogue import functions_by_name
from functions.local import demo
from tests import lock, processes
from tests.conftest import JWT_SECRET, database_url

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
SERVICE = demo.service_token(JWT_SECRET)
CONVERSATION = str(demo.FIRST_CONVERSATION_ID)


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
        with urllib.request.urlopen(call, timeout=10) as answer:  # noqa: S310
            raw, status, answer_headers = answer.read(), answer.status, dict(answer.headers)
    except urllib.error.HTTPError as error:
        raw, status, answer_headers = error.read(), error.code, dict(error.headers)
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Answer(status, {k.lower(): v for k, v in answer_headers.items()}, parsed)


@dataclass
class Process:
    name: str
    port: int
    process: subprocess.Popen[str]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        self.process.terminate()
        out, _ = self.process.communicate(timeout=10)
        return out


def environment(db_url: str, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SUPABASE_", "DATABASE_", "PORT"))
    }
    env.update(
        DATABASE_URL=db_url,
        SUPABASE_JWT_SECRET=JWT_SECRET,
        PYTHONUNBUFFERED="1",
        WEBHOOKS_ALLOW_PRIVATE_URLS="1",
    )
    env.update(extra)
    return env


def start(name: str, command: list[str], env: dict[str, str], port: int) -> Process:
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return Process(name, port, process)


def wait_until_listening(server: Process, seconds: float = 60) -> None:
    try:
        processes.wait_until_listening(server.port, server.process, seconds)
    except processes.NotListening as error:
        raise AssertionError(f"{server.name} {error}:\n{server.output()}") from error


def stop(servers: list[Process]) -> None:
    for server in servers:
        server.process.terminate()
    for server in servers:
        try:
            server.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.communicate()


def gunicorn(db_url: str, **extra: str) -> Process:
    port = processes.free_port()
    command = [
        str(BIN / "gunicorn"),
        "functions.app:app",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--threads",
        "4",
    ]
    return start("gunicorn", command, environment(db_url, **extra), port)


# ---------------------------------------------------------------------------
# The all-in-one app under gunicorn
# ---------------------------------------------------------------------------


@pytest.fixture
def production(db_url: str) -> Iterator[Process]:
    server = gunicorn(db_url)
    try:
        wait_until_listening(server)
        yield server
    finally:
        stop([server])


def assert_the_gate_allows(url: str) -> None:
    """The service's gate call on the demo's active conversation: 200, allowed."""
    gate = request(url, "POST", {"conversation_id": CONVERSATION, "message_id": "m-1"}, SERVICE)
    assert gate.status == 200
    assert gate.body["allowed"] is True


def test_gunicorn_serves_every_function_and_health_without_the_console(
    production: Process,
) -> None:
    base = production.base
    for name, function in functions_by_name().items():
        method = next(iter(function.routes))
        refused = request(
            f"{base}/functions/v1/{name}", method, body={} if method != "GET" else None
        )
        assert refused.status == 401, name
        assert refused.body["error"]["code"] == "missing_token"
        assert set(refused.body["error"]) >= {"code", "message", "details"}
        assert refused.headers["x-request-id"]

    assert_the_gate_allows(f"{base}/functions/v1/interaction-gate")
    assert request(f"{base}/health").status == 200
    assert "/functions/v1/interaction-gate" in request(f"{base}/openapi.json").body["paths"]
    for console_path in ("/", "/console/session", "/static/app.js"):
        answer = request(f"{base}{console_path}")
        assert answer.status == 404, console_path
        assert answer.body["error"]["code"] == "not_found"


def test_gunicorn_with_a_bad_variable_stops_naming_it(db_url: str) -> None:
    server = gunicorn(db_url, DATABASE_POOL_SIZE="lots")
    try:
        output, _ = server.process.communicate(timeout=60)
    finally:
        stop([server])
    assert server.process.returncode != 0
    assert "DATABASE_POOL_SIZE='lots'" in output


def test_gunicorn_with_nothing_to_verify_with_says_so_at_start(db_url: str) -> None:
    server = gunicorn(db_url, SUPABASE_JWT_SECRET="")
    try:
        wait_until_listening(server)
        answer = request(f"{server.base}/functions/v1/auto-resume", "POST", {}, SERVICE)
    finally:
        output = server.output()
    assert answer.status == 500
    assert answer.body["error"]["code"] == "server_misconfigured"
    assert "retry-after" not in answer.headers
    # Said before any request, as the instance started.
    assert output.index("server_misconfigured: no SUPABASE_JWT_SECRET") < output.index(
        '"function": "auto-resume"'
    )


# ---------------------------------------------------------------------------
# Each function alone under functions-framework
# ---------------------------------------------------------------------------


def functions_framework(target: str, env: dict[str, str], name: str | None = None) -> Process:
    """`target` alone, as Cloud Run functions starts it."""
    port = processes.free_port()
    command = [
        str(BIN / "functions-framework"),
        "--source",
        "functions/main.py",
        "--target",
        target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    return start(name or target, command, env, port)


def test_each_target_alone_answers_its_own_function_and_nothing_else(db_url: str) -> None:
    targets = functions_by_name()
    servers: list[Process] = []
    try:
        for name, function in targets.items():
            servers.append(functions_framework(function.target, environment(db_url), name))
        # Started together: the slow part, each process's imports, overlaps.
        with ThreadPoolExecutor(max_workers=len(servers)) as threads:
            list(threads.map(wait_until_listening, servers))

        for server in servers:
            function = targets[server.name]
            method = next(iter(function.routes))
            body: dict[str, Any] | None = {} if method != "GET" else None
            refused = request(f"{server.base}/", method, body)
            assert refused.status == 401, server.name
            assert refused.body["error"]["code"] == "missing_token"
            # Whatever the path, the target is its function: never the console's page or
            # its demo sessions.
            console = request(f"{server.base}/console/session", method, body)
            assert console.status == 401, server.name
            assert console.body["error"]["code"] == "missing_token"
            if "POST" not in function.routes:
                wrong = request(f"{server.base}/", "POST", {}, SERVICE)
                assert wrong.status == 405, server.name

        by_name = {server.name: server for server in servers}
        assert_the_gate_allows(f"{by_name['interaction-gate'].base}/")
        status = request(
            f"{by_name['pause-status'].base}/?conversation_id={CONVERSATION}", token=SERVICE
        )
        assert status.status == 200
        assert status.body["conversation_id"] == CONVERSATION
    finally:
        stop(servers)


def test_a_target_connects_as_it_starts_not_at_its_first_request(
    server_url: str, db_name: str, db: psycopg.Connection[Any]
) -> None:
    # Directly, not through a pooler: PgBouncer would open no server connection before a
    # query, and the backend is what shows the connection was made.
    application = f"takeover-early-{uuid4().hex[:8]}"
    env = environment(database_url(server_url, db_name), PGAPPNAME=application)
    server = functions_framework("interaction_gate", env)
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
        assert_the_gate_allows(f"{server.base}/")
    finally:
        stop([server])


def test_a_target_without_its_database_starts_and_answers_503() -> None:
    nothing_there = f"postgresql://postgres@127.0.0.1:{processes.free_port()}/none"
    env = environment(nothing_there, DATABASE_TIMEOUT_SECONDS="1")
    server = functions_framework("interaction_gate", env)
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


# ---------------------------------------------------------------------------
# The files a build reads
# ---------------------------------------------------------------------------


def test_requirements_txt_pins_what_the_tests_ran_on() -> None:
    assert (ROOT / "requirements.txt").read_text() == lock.render(), (
        "requirements.txt is stale: run `make requirements`"
    )


def test_every_runtime_dependency_is_pinned_within_its_range() -> None:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[lock.canonical(name)] = version
    for dependency in lock.runtime_dependencies():
        pinned = pins.get(lock.canonical(dependency.name))
        assert pinned is not None, f"{dependency.name} is not pinned"
        assert dependency.specifier.contains(pinned), f"{dependency.name}=={pinned}"


def test_no_development_package_is_deployed() -> None:
    pinned = (ROOT / "requirements.txt").read_text()
    for development in ("pgserver", "pytest", "playwright", "schemathesis", "respx"):
        assert not re.search(rf"^{development}==", pinned, re.MULTILINE), development


def test_the_python_version_and_the_dockerfile_agree_with_what_is_tested() -> None:
    python = (ROOT / ".python-version").read_text().strip()
    assert python == f"{sys.version_info.major}.{sys.version_info.minor}"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"FROM python:{python}-slim" in dockerfile
    assert "pip install --no-cache-dir -r requirements.txt" in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.MULTILINE)
    command = re.search(r"^CMD (.+)$", dockerfile, re.MULTILINE)
    assert command is not None
    shell, flag, line = json.loads(command.group(1))
    # The command the gunicorn tests above run, on the port Cloud Run gives.
    assert (shell, flag) == ("sh", "-c")
    assert line.startswith("exec gunicorn functions.app:app --bind 0.0.0.0:${PORT}")
    assert "gunicorn" in {lock.canonical(r.name) for r in lock.runtime_dependencies()}


# ---------------------------------------------------------------------------
# The API description operators and clients read
# ---------------------------------------------------------------------------


def test_every_error_code_the_code_raises_is_in_the_described_enum() -> None:
    raised = set()
    for path in (ROOT / "functions").rglob("*.py"):
        if "local" in path.parts:
            continue
        for match in re.finditer(
            r"\b(?:BadRequest|Unauthorized|Forbidden|NotFound|Conflict|PayloadTooLarge|"
            r"Unprocessable|InternalError|Unavailable|ApiError)\(\s*\"([a-z_]+)\"",
            path.read_text(),
        ):
            raised.add(match.group(1))
    document = json.loads((ROOT / "functions" / "openapi.json").read_text())
    described = set(document["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["enum"])
    assert raised - described == set()
    assert {"server_misconfigured", "database_unavailable", "already_paused"} <= described


def test_the_description_names_its_headers_and_health() -> None:
    document = json.loads((ROOT / "functions" / "openapi.json").read_text())
    for function in functions_by_name().values():
        for method, route in function.routes.items():
            operation = document["paths"][f"/functions/v1/{function.name}"][method.lower()]
            names = {
                parameter.get("$ref", "").rsplit("/", 1)[-1]
                for parameter in operation["parameters"]
            }
            assert ("IdempotencyKey" in names) is route.idempotent, (function.name, method)
            assert "RequestId" in names
            unavailable = operation["responses"]["503"]["headers"]
            assert set(unavailable) == {"X-Request-Id", "Retry-After"}
            assert "500" in operation["responses"]
    assert set(document["paths"]["/health"]["get"]["responses"]) == {"200", "500", "503"}


def test_a_single_target_imports_its_own_function_only() -> None:
    """A cold start pays for one function: functions/main.py resolves the target asked for
    without the catalogue."""
    code = (
        "import sys, functions.main as m; m.interaction_gate;print('\\n'.join(sorted(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env=environment("postgresql://127.0.0.1:1/x"),
        cwd=ROOT,
    ).stdout.split()
    assert "functions.interaction_gate" in loaded
    assert [m for m in loaded if m.startswith("functions.pause_")] == []
    # PyJWT and cryptography load with the first token to verify: callers that send secret
    # keys never pay for them.
    assert [m for m in loaded if m.split(".")[0] in {"jwt", "cryptography"}] == []
