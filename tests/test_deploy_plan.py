"""`make deploy-plan`: the deploy commands, derived from the catalogue, are what
docs/deploy.md shows, cover every function with its own timeout and settings, and keep the
secrets where they belong; sql/cron.sql's cadences and timeouts are the functions' own."""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache
from pathlib import Path

from functions.catalogue import functions_by_name
from functions.local import deploy_plan

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- make deploy-plan -->\n```sh\n", "```\n<!-- /make deploy-plan -->"


@cache
def printed() -> str:
    """What `make deploy-plan` prints (its recipe, run the same way), run once."""
    return subprocess.run(
        [sys.executable, "-m", "functions.local.deploy_plan"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def test_the_documented_deploy_is_exactly_what_make_deploy_plan_prints() -> None:
    document = (ROOT / "docs" / "deploy.md").read_text()
    shown = document[document.index(START) + len(START) : document.index(END)]
    assert shown == printed()


def test_every_function_is_deployed_once_with_its_own_timeout() -> None:
    plan = printed()
    deployed = re.findall(r"^deploy ([a-z-]+) (\d+)s", plan, re.MULTILINE)
    expected = [(f.name, str(f.timeout_seconds)) for f in functions_by_name().values()]
    assert deployed == expected
    assert ("audit-export", "1800") in deployed
    longest = max(f.timeout_seconds for f in functions_by_name().values())
    assert f"--timeout={longest}s" in plan  # the container's one timeout


def test_the_containers_concurrency_is_its_gunicorn_threads() -> None:
    command = re.search(r'^CMD \[.*"(.*)"\]$', (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert command is not None
    threads = re.search(r"--threads (\d+)", command.group(1))
    assert threads is not None
    assert f"--concurrency={threads.group(1)} " in printed()


def test_each_mounted_secret_is_granted_and_the_jwt_secret_mounted_only_if_it_exists() -> None:
    plan = printed()
    loop = re.search(r"^for secret in (.+); do$", plan, re.MULTILINE)
    assert loop is not None
    granted = set(loop.group(1).split())
    mounted = set(re.findall(r"=(takeover-[a-z-]+):latest", plan))
    assert mounted <= granted
    assert deploy_plan.SCHEDULER_SECRET not in granted  # the operator reads it, not the functions
    # Cloud Run refuses a deploy that names a missing secret: the legacy JWT secret is added
    # to the mounts only inside the test of its existence.
    unconditional = plan.replace(
        "if gcloud secrets describe takeover-jwt-secret >/dev/null 2>&1; then\n"
        "  SECRETS=$SECRETS,SUPABASE_JWT_SECRET=takeover-jwt-secret:latest\nfi\n",
        "",
    )
    assert "SUPABASE_JWT_SECRET=takeover-jwt-secret" not in unconditional
    # A function's own secrets go to that function alone (and to the one container).
    [own] = [
        line for line in plan.splitlines() if "AWS_SECRET_ACCESS_KEY=" in line and "deploy " in line
    ]
    assert own.startswith("deploy audit-export ")


def test_the_scheduler_sends_a_key_from_secret_manager_never_one_typed_in() -> None:
    plan = printed()
    jobs = plan.split("gcloud scheduler jobs create http ")[1:]
    scheduled = [f for f in functions_by_name().values() if f.schedule]
    # Cloud Scheduler's minimum is a minute: a job each for the others, pg_cron for these.
    assert [job.split()[0] for job in jobs] == [
        f"takeover-{f.name}" for f in scheduled if len((f.schedule or "").split()) == 5
    ]
    for job in jobs:
        assert "apikey=$SCHEDULER_KEY" in job
        assert "sb_secret_" not in job
    assert (
        "SCHEDULER_KEY=$(gcloud secrets versions access latest --secret=takeover-scheduler-key)"
        in plan
    )


def test_cron_sql_calls_each_function_at_its_cadence_and_waits_its_timeout() -> None:
    cron = (ROOT / "sql" / "cron.sql").read_text()
    functions = functions_by_name()

    def setting(name: str) -> str:
        found = re.search(rf"set_config\('takeover\.{name}', '([^']*)'", cron)
        assert found is not None, name
        return found.group(1)

    assert setting("cron_schedule") == functions["auto-resume"].schedule
    assert setting("webhook_dispatch_schedule") == functions["webhook-dispatch"].schedule
    assert setting("audit_export_schedule") == functions["audit-export"].schedule
    for job, function in [
        ("takeover_auto_resume_url", "auto-resume"),
        ("takeover_webhook_dispatch_url", "webhook-dispatch"),
        ("takeover_audit_export_url", "audit-export"),
    ]:
        timeout = re.search(rf"'{job}',\s*\w+,\s*'[^']*',\s*(\d+)\)", cron)
        assert timeout is not None, job
        assert int(timeout.group(1)) == functions[function].timeout_seconds * 1000, job


def test_one_url_naming_everywhere() -> None:
    """A function's URL ends in its name (`auto-resume`), never its target (`auto_resume`)."""
    for path in [ROOT / "sql" / "cron.sql", ROOT / "docs" / "deploy.md", ROOT / "README.md"]:
        text = path.read_text()
        for function in functions_by_name().values():
            if function.target != function.name:
                assert f"/{function.target}" not in text, (path.name, function.target)
