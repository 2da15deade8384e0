"""`make reliability`: the soak with its faults, directly and then through PgBouncer in
transaction mode (RELIABILITY_POOLER=0 skips that leg), then beside a noisy neighbour
(RELIABILITY_NEIGHBOURS=0 skips that leg), then the fuzzing and the isolation matrix,
against the harness's own embedded Postgres (.data/reliability).

    RELIABILITY_SECONDS=60 RELIABILITY_WORKERS=32 .venv/bin/python -m tests.reliability

Other knobs: RELIABILITY_CONVERSATIONS (300), RELIABILITY_SEED (random, printed),
RELIABILITY_DB_TIMEOUT (DATABASE_TIMEOUT_SECONDS of the function process, 3),
RELIABILITY_OUTAGE_SECONDS (4), RELIABILITY_FUZZ_EXAMPLES (examples per operation, 100),
RELIABILITY_POOLER=0 (no PgBouncer leg), RELIABILITY_NEIGHBOURS=0 (no noisy-neighbour leg),
RELIABILITY_NEIGHBOUR_WORKERS (the quiet tenant's workers on that leg, 8),
RELIABILITY_NEIGHBOUR_READERS (the noisy tenant's heavy readers, 16),
RELIABILITY_NEIGHBOUR_ROWS (the log's history, 400000), RELIABILITY_SUITES=0 (the soak
only). Exit status 0 when everything holds.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace

from tests import pgbouncer
from tests.reliability.client import ROOT
from tests.reliability.neighbours import Neighbours, NeighbourSettings
from tests.reliability.postgres import EmbeddedPostgres
from tests.reliability.report import SuiteResult, render
from tests.reliability.soak import Settings, run_soak

SUITE_TIMEOUT_SECONDS = 1800
SUITES = {
    "fuzzing (schemathesis)": ["tests/test_fuzz.py", "tests/test_fuzz_regressions.py"],
    "isolation matrix": ["tests/test_isolation_matrix.py"],
}


def settings_from_environment() -> Settings:
    env = os.environ
    seconds = float(env.get("RELIABILITY_SECONDS", "60"))
    return Settings(
        seconds=seconds,
        workers=int(env.get("RELIABILITY_WORKERS", "32")),
        conversations=int(env.get("RELIABILITY_CONVERSATIONS", "300")),
        kills=max(2, round(seconds / 15)),
        restarts=max(1, round(seconds / 40)),
        outage_seconds=float(env.get("RELIABILITY_OUTAGE_SECONDS", "4")),
        db_timeout_seconds=float(env.get("RELIABILITY_DB_TIMEOUT", "3")),
        seed=int(env.get("RELIABILITY_SEED") or random.randrange(1_000_000)),
    )


def run_suite(name: str, paths: list[str], server_url: str) -> SuiteResult:
    """One pytest run, on the harness's Postgres server; its outcome counts."""
    env = dict(os.environ)
    env["DATABASE_URL"] = server_url  # conftest makes its databases on this server
    env.setdefault("RELIABILITY_FUZZ_EXAMPLES", "100")
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as output:
        try:
            completed = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=SUITE_TIMEOUT_SECONDS,
                check=False,
            )
            returncode = completed.returncode
        except subprocess.TimeoutExpired:
            returncode = -1
        output.seek(0)
        text = output.read()
    counts: Counter[str] = Counter()
    tail = text.strip().splitlines()[-1:] or [""]
    for number, outcome in re.findall(
        r"(\d+) (passed|failed|xfailed|xpassed|skipped|errors?)", tail[0]
    ):
        counts["error" if outcome.startswith("error") else outcome] += int(number)
    result = SuiteResult(name, counts, time.monotonic() - started, returncode)
    if not result.ok:
        failures = [line for line in text.splitlines() if line.startswith(("FAILED", "ERROR"))]
        print("\n".join(failures[:30]) or text[-3000:], file=sys.stderr)
    return result


def main() -> int:
    settings = settings_from_environment()
    print(
        f"reliability: soak {settings.seconds:g} s with {settings.workers} workers "
        f"(seed {settings.seed}) on .data/reliability ...",
        file=sys.stderr,
        flush=True,
    )
    postgres = EmbeddedPostgres("reliability")
    reports = [run_soak(settings, postgres)]
    if os.environ.get("RELIABILITY_POOLER", "1") != "0":
        if not pgbouncer.available():
            print("reliability: no pgbouncer, no pooler leg", file=sys.stderr, flush=True)
        else:
            pooled = replace(
                settings, pooler=True, pooler_restarts=max(1, round(settings.seconds / 30))
            )
            print(
                f"reliability: soak {settings.seconds:g} s through PgBouncer ...",
                file=sys.stderr,
                flush=True,
            )
            reports.append(run_soak(pooled, postgres))
    if os.environ.get("RELIABILITY_NEIGHBOURS", "1") != "0":
        beside = replace(
            settings,
            workers=int(os.environ.get("RELIABILITY_NEIGHBOUR_WORKERS", "8")),
            kills=0,
            restarts=0,
            neighbours=True,
        )
        print(
            f"reliability: {settings.seconds:g} s beside a noisy neighbour ...",
            file=sys.stderr,
            flush=True,
        )
        load = Neighbours(NeighbourSettings.from_environment(), beside.seconds)
        reports.append(run_soak(beside, postgres, load))
    suites: list[SuiteResult] = []
    if os.environ.get("RELIABILITY_SUITES", "1") != "0":
        for name, paths in SUITES.items():
            print(f"reliability: {name} ...", file=sys.stderr, flush=True)
            suites.append(run_suite(name, paths, postgres.server_url))
    print(render(reports, suites), flush=True)
    ok = all(report.ok for report in reports) and all(suite.ok for suite in suites)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
