"""make deploy-plan: the Google Cloud commands that deploy Takeover, derived from the
catalogue (every function, its timeout, its schedule, the variables and secrets it alone
reads) and from the Dockerfile (the container's threads). docs/deploy.md shows exactly this
output; tests/test_deploy_plan.py keeps the two equal.

    python -m functions.local.deploy_plan
"""

from __future__ import annotations

import re

from functions.catalogue import functions_by_name
from functions.edge.http import Function
from functions.migrations import ROOT

# Mounted on every function: the database, and the keys callers are verified with.
COMMON_SECRETS = {
    "DATABASE_URL": "takeover-database-url",
    "SUPABASE_SECRET_KEYS": "takeover-secret-keys",
}
# Legacy HS256 projects only (the legacy service_role JWT, or user tokens signed with the JWT
# secret): mounted only where the secret exists, since Cloud Run refuses a missing one.
JWT_SECRET = ("SUPABASE_JWT_SECRET", "takeover-jwt-secret")
SCHEDULER_SECRET = "takeover-scheduler-key"  # noqa: S105  (a name, not a value)


def secret_name(variable: str) -> str:
    """A variable's secret in Secret Manager: AWS_ACCESS_KEY_ID in takeover-aws-access-key-id."""
    return "takeover-" + variable.lower().replace("_", "-")


def container_threads() -> int:
    """The gunicorn threads of the Dockerfile's CMD: one instance serves that many requests at
    once, so Cloud Run must send it no more."""
    command = re.search(r"^CMD .*--threads (\d+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert command is not None, "the Dockerfile's CMD names no --threads"
    return int(command.group(1))


def _every_minute_or_slower(function: Function) -> bool:
    # Cron syntax; '10 seconds' is pg_cron's alone.
    return len((function.schedule or "").split()) == 5


def plan() -> str:
    functions = functions_by_name()
    scheduled = [f for f in functions.values() if f.schedule]
    own_secrets = [(f, v) for f in functions.values() for v in f.secrets]
    readable = [*COMMON_SECRETS.values(), JWT_SECRET[1], *(secret_name(v) for _, v in own_secrets)]
    lines = [
        "# Takeover on Google Cloud. `make deploy-plan` prints this from the catalogue; run it",
        "# step by step from the checkout's root, once these are filled in:",
        "PROJECT=my-project",
        "REGION=europe-west1",
        "SUPABASE_URL=https://abcdefghijklmnop.supabase.co  # the project's API URL",
        "RUNTIME_SA=takeover-runtime@$PROJECT.iam.gserviceaccount.com",
    ]
    for function in functions.values():
        lines += [f"{v}=  # {function.name} only" for v in function.variables]
    lines += [
        "",
        "# Values come from your shell, never typed into a command. Export DATABASE_URL",
        "# (Supavisor's transaction pooler, port 6543), DATABASE_DIRECT_URL (the direct",
        "# connection or the session pooler, for migrations), SUPABASE_SECRET_KEYS (the",
        "# sb_secret_ keys callers send, comma-separated) and SCHEDULER_KEY (one of those, the",
        "# scheduler's own: revoked alone if need be).",
        "",
        "# 0. The database: `supabase db push`, or from requirements.txt alone:",
        "python -m functions.migrations  # DATABASE_DIRECT_URL, never the transaction pooler",
        "",
        "# 1. Secrets, in Secret Manager.",
        *(
            f'printf %s "${v}" | gcloud secrets create {name} --data-file=-'
            for v, name in COMMON_SECRETS.items()
        ),
        f'printf %s "$SCHEDULER_KEY" | gcloud secrets create {SCHEDULER_SECRET} --data-file=-',
    ]
    lines += [
        f'printf %s "${v}" | gcloud secrets create {secret_name(v)} --data-file=-  # {f.name}'
        for f, v in own_secrets
    ]
    lines += [
        "#    Legacy HS256 projects only (the legacy service_role JWT, or user tokens signed with",
        "#    the JWT secret). Without it, user tokens are verified with the JWKS alone:",
        f'#    printf %s "${JWT_SECRET[0]}" | gcloud secrets create {JWT_SECRET[1]} --data-file=-',
        "",
        "# 2. The identity the functions run as, allowed to read each of their secrets.",
        'gcloud iam service-accounts create takeover-runtime --display-name="Takeover functions"',
        f"for secret in {' '.join(readable)}; do",
        '  gcloud secrets describe "$secret" >/dev/null 2>&1 || continue',
        '  gcloud secrets add-iam-policy-binding "$secret" \\',
        '    --member="serviceAccount:$RUNTIME_SA" --role=roles/secretmanager.secretAccessor',
        "done",
        "ENV=SUPABASE_JWKS_URL=$SUPABASE_URL/auth/v1/.well-known/jwks.json",
        "SECRETS=" + ",".join(f"{v}={s}:latest" for v, s in COMMON_SECRETS.items()),
        f"if gcloud secrets describe {JWT_SECRET[1]} >/dev/null 2>&1; then",
        f"  SECRETS=$SECRETS,{JWT_SECRET[0]}={JWT_SECRET[1]}:latest",
        "fi",
        "",
        "# 3a. Every function on Cloud Run functions, one target each: the buildpack installs",
        "#     requirements.txt and finds main.py at the root (.gcloudignore: what is uploaded).",
        "deploy() {  # name, timeout, its own variables and secrets",
        '  gcloud functions deploy "$1" --gen2 --runtime=python311 --region="$REGION" \\',
        '    --source=. --entry-point="${1//-/_}" --trigger-http --allow-unauthenticated \\',
        '    --timeout="$2" --service-account="$RUNTIME_SA" \\',
        '    --set-env-vars="$ENV$3" --set-secrets="$SECRETS$4"',
        "}",
        *(_deploy_line(function) for function in functions.values()),
        "FUNCTIONS_URL=https://$REGION-$PROJECT.cloudfunctions.net  # $FUNCTIONS_URL/<name>",
        "",
        "# 3b. Or every function in one Cloud Run service (the Dockerfile: gunicorn main:app).",
        "#     --concurrency is the CMD's gunicorn threads, --timeout the longest function's.",
        'gcloud run deploy takeover --source=. --region="$REGION" --allow-unauthenticated \\',
        f"  --concurrency={container_threads()}"
        f" --timeout={max(f.timeout_seconds for f in functions.values())}s"
        ' --service-account="$RUNTIME_SA" \\',
        '  --set-env-vars="$ENV' + "".join(map(_variables, functions.values())) + '" \\',
        '  --set-secrets="$SECRETS' + "".join(map(_secrets, functions.values())) + '"',
        'FUNCTIONS_URL=$(gcloud run services describe takeover --region="$REGION" \\',
        "  --format='value(status.url)')/functions/v1  # $FUNCTIONS_URL/<name>",
        "",
        "# 4. The schedules, each function's cadence:",
        *(f"#      {f.name:<17} {f.schedule}" for f in scheduled),
        "#    pg_cron serves them all on Supabase: fill in sql/cron.sql (the $FUNCTIONS_URL/<name>",
        "#    URLs and the service key, which it keeps in Vault), then",
        'psql "$DATABASE_DIRECT_URL" -v ON_ERROR_STOP=1 -f sql/cron.sql',
        "#    Or Cloud Scheduler (no pg_net needed), once a minute at most: "
        + ", ".join(f.name for f in scheduled if not _every_minute_or_slower(f))
        + " then",
        "#    stays on pg_cron (or runs every minute). The key comes from Secret Manager (the job",
        "#    keeps it: grant cloudscheduler.jobs.get to no one who may not hold it).",
        f"SCHEDULER_KEY=$(gcloud secrets versions access latest --secret={SCHEDULER_SECRET})",
    ]
    for function in scheduled:
        if _every_minute_or_slower(function):
            lines += _scheduler_job(function)
    return "\n".join(lines) + "\n"


def _variables(function: Function) -> str:
    return "".join(f",{v}=${v}" for v in function.variables)


def _secrets(function: Function) -> str:
    return "".join(f",{v}={secret_name(v)}:latest" for v in function.secrets)


def _deploy_line(function: Function) -> str:
    line = f"deploy {function.name} {function.timeout_seconds}s"
    if function.variables or function.secrets:
        line += f' "{_variables(function)}" "{_secrets(function)}"'
    return line


def _scheduler_job(function: Function) -> list[str]:
    return [
        f'gcloud scheduler jobs create http takeover-{function.name} --location="$REGION" \\',
        f"  --schedule='{function.schedule}' --uri=\"$FUNCTIONS_URL/{function.name}\""
        " --http-method=POST \\",
        '  --headers="Content-Type=application/json,apikey=$SCHEDULER_KEY" \\',
        f"  --message-body='{{}}' --attempt-deadline={function.timeout_seconds}s",
    ]


if __name__ == "__main__":
    print(plan(), end="")
