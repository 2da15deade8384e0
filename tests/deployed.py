"""What the platforms build from this repository, rebuilt here: only the files git tracks
(what a fresh clone has, uncommitted edits of them included), filtered by .gcloudignore (Cloud
Run functions' upload) or by .dockerignore and the Dockerfile's COPY and RUN lines (the
container), with a venv built from requirements.txt alone. No editable install, no
PYTHONPATH: a module the deploy does not carry fails to import here as it would there. And
what was built, started as each platform starts it.

The venv is built once per requirements.txt (keyed by its hash, under the gitignored
.cache/deploy/) and reused by every later run; the first build takes about a minute.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

from tests import processes
from tests.support import JWT_SECRET

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "deploy"
# The platform's PATH, with the venv's bin first, as the buildpack and the image set it.
SYSTEM_PATH = "/usr/bin:/bin"
# The deployment's secret API key (SUPABASE_SECRET_KEYS).
SECRET_KEY = "sb_secret_" + "d" * 32


def tracked_files() -> list[str]:
    """What git tracks, as it is in the working tree (a file deleted there is left out)."""
    listed = _git("ls-files", "--cached", "-z")
    return [name for name in listed if (ROOT / name).is_file()]


def without_ignored(files: list[str], ignore_file: str) -> list[str]:
    """`files` less those `ignore_file`'s patterns exclude (gitignore rules; .gcloudignore
    uses them, and .dockerignore is written so that they give what Docker's give)."""
    ignored = set(_git("ls-files", "--cached", "--ignored", "-z", f"--exclude-from={ignore_file}"))
    return [name for name in files if name not in ignored]


def _git(*arguments: str) -> list[str]:
    listed = subprocess.run(
        ["git", *arguments], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    return [name for name in listed.split("\0") if name]


def copy(files: list[str], destination: Path) -> Path:
    for name in files:
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    return destination


# ---------------------------------------------------------------------------
# The venv: requirements.txt and nothing else
# ---------------------------------------------------------------------------


def requirements_venv() -> Path:
    """A venv with `pip install -r requirements.txt` done, built at most once per
    requirements.txt (test workers wait for the one building it)."""
    key = hashlib.sha256((ROOT / "requirements.txt").read_bytes()).hexdigest()[:16]
    venv = CACHE / f"venv-{key}"
    built = venv / ".built"
    if built.exists():
        return venv
    CACHE.mkdir(parents=True, exist_ok=True)
    with _locked(CACHE / "venv.lock"):
        if built.exists():
            return venv
        for stale in CACHE.glob("venv-*"):
            shutil.rmtree(stale)  # another requirements.txt's, or a build that died
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        # pip as configured on this machine (its indexes and mirrors), nothing of ours.
        environment = {
            k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}
        }
        installed = subprocess.run(
            [
                str(venv / "bin" / "pip"),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(ROOT / "requirements.txt"),
            ],
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        if installed.returncode != 0:
            raise AssertionError(f"pip install -r requirements.txt failed:\n{installed.stderr}")
        built.touch()
    return venv


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def platform_environment(venv: Path, **variables: str) -> dict[str, str]:
    """`env -i PATH=$VENV/bin:/usr/bin:/bin` and the variables given: nothing inherited."""
    return {"PATH": f"{venv / 'bin'}:{SYSTEM_PATH}", **variables}


# ---------------------------------------------------------------------------
# The Dockerfile, read as the build would
# ---------------------------------------------------------------------------


class UnknownStep(AssertionError):
    """A Dockerfile instruction the simulation does not know how to carry out: teach it."""


@dataclass
class Image:
    """The image the Dockerfile builds, as a folder and the environment and command it
    starts with."""

    root: Path
    environment: dict[str, str] = field(default_factory=dict)
    command: list[str] = field(default_factory=list)
    user: str | None = None


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    found = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, arguments = line.strip().partition(" ")
            found.append((instruction.upper(), " ".join(arguments.split())))
    return found


def build_image(context: list[str], destination: Path, venv: Path) -> Image:
    """Carry out the Dockerfile on the build context `context` (tracked files less
    .dockerignore's) into `destination`. `pip install -r requirements.txt` is the cached
    venv; a step it does not know fails the test rather than pass unseen."""
    image = Image(destination)
    workdir = destination
    for instruction, arguments in dockerfile_instructions((ROOT / "Dockerfile").read_text()):
        if instruction == "FROM":
            continue  # the interpreter is this one: .python-version and the FROM agree (a test)
        if instruction == "ENV":
            image.environment.update(dict(pair.split("=", 1) for pair in shlex.split(arguments)))
        elif instruction == "WORKDIR":
            workdir = destination  # the image's working directory is this folder
        elif instruction == "COPY":
            *sources, target = shlex.split(arguments)
            for source in sources:
                _copy_from_context(context, source.rstrip("/"), target, workdir)
        elif instruction == "RUN":
            for step in (s.strip() for s in arguments.split("&&")):
                _run(step, workdir, venv)
        elif instruction == "USER":
            image.user = arguments  # not simulated: the test runs as whoever runs it
        elif instruction == "CMD":
            image.command = json.loads(arguments)
        else:
            raise UnknownStep(f"Dockerfile: {instruction} {arguments}")
    return image


def _copy_from_context(context: list[str], source: str, target: str, workdir: Path) -> None:
    chosen = [name for name in context if name == source or name.startswith(f"{source}/")]
    if not chosen:
        raise AssertionError(f"COPY {source}: not in the build context (.dockerignore?)")
    for name in chosen:
        relative = name if target == "." else target.rstrip("/") + name[len(source) :]
        destination = workdir / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, destination)


def _run(step: str, workdir: Path, venv: Path) -> None:
    words = shlex.split(step)
    if words == ["pip", "install", "--no-cache-dir", "-r", "requirements.txt"]:
        copied = (workdir / "requirements.txt").read_bytes()
        assert copied == (ROOT / "requirements.txt").read_bytes()  # what the venv was built from
    elif words[:2] == ["rm", "-rf"]:
        for path in words[2:]:
            shutil.rmtree(workdir / path, ignore_errors=True)  # as rm -rf: gone or absent
    elif words[:3] == ["python", "-m", "compileall"]:
        subprocess.run(
            [str(venv / "bin" / "python"), *words[1:]],
            cwd=workdir,
            env=platform_environment(venv),
            check=True,
        )
    elif words[0] == "useradd":
        pass  # the user USER names: not created on this machine
    else:
        raise UnknownStep(f"Dockerfile RUN: {step}")


# ---------------------------------------------------------------------------
# Servers, started as the platforms start them, with nothing but the platform's
# environment
# ---------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start(name: str, command: list[str], cwd: Path, env: dict[str, str], port: int) -> Server:
    log = cwd.parent / f"{cwd.name}-{name}-{uuid4().hex[:8]}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=output)
    return Server(name, port, process, log)


def wait_until_listening(server: Server, seconds: float = 120) -> None:
    try:
        processes.wait_until_listening(server.port, server.process, seconds)
    except processes.NotListening as error:
        stop([server])
        raise AssertionError(f"{server.name} {error}:\n{server.output()}") from error


def stop(servers: list[Server]) -> None:
    for server in servers:
        if server.process.poll() is None:
            processes.stop(server.process)


def secrets(db_url: str, **extra: str) -> dict[str, str]:
    """What the deploy mounts from Secret Manager (docs/deploy.md)."""
    return {
        "DATABASE_URL": db_url,
        "SUPABASE_SECRET_KEYS": SECRET_KEY,
        "SUPABASE_JWT_SECRET": JWT_SECRET,
        **extra,
    }


def target(upload: Path, venv: Path, name: str, variables: dict[str, str]) -> Server:
    """`name`'s target as Cloud Run functions' buildpack starts it: the console script in
    the upload's root, FUNCTION_TARGET and PORT (HOST keeps it on loopback here)."""
    port = processes.free_port()
    env = platform_environment(
        venv,
        FUNCTION_TARGET=name.replace("-", "_"),
        PORT=str(port),
        HOST="127.0.0.1",
        **variables,
    )
    return start(name, ["functions-framework"], upload, env, port)


def container(image: Image, venv: Path, variables: dict[str, str]) -> Server:
    """The image's CMD with its ENV, on the port Cloud Run gives."""
    port = processes.free_port()
    env = platform_environment(venv, **{**image.environment, **variables})
    env["PORT"] = str(port)
    return start("container", image.command, image.root, env, port)
