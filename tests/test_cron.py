"""sql/cron.sql's in-database schedule, run for real: Debian's pg_cron in a throwaway
Postgres 15 cluster of the test's own (its own data directory and port; the machine's
Postgres is never touched), with the migrations applied, ends an expired pause by itself.

The http mode (pg_net and Vault) exists only on a Supabase project: here, only its refusal
of unfilled placeholders is checked. Skipped where pg_cron or Postgres 15's initdb is
missing, unless REQUIRE_PG_CRON=1 (CI sets it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from functions import migrations
from functions.local import demo
from tests.processes import free_port
from tests.support import log_rows

ROOT = Path(__file__).resolve().parent.parent
CRON_SQL = ROOT / "sql" / "cron.sql"
POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
PG_CRON = Path("/usr/share/postgresql/15/extension/pg_cron.control")
CONVERSATION = demo.FIRST_CONVERSATION_ID


def _as_postgres(command: list[str]) -> list[str]:
    """initdb and pg_ctl refuse root: as root, run them as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A Postgres 15 with pg_cron preloaded, for this module only; its URL."""
    if not ((POSTGRES_BIN / "initdb").exists() and PG_CRON.exists()):
        if os.environ.get("REQUIRE_PG_CRON") == "1":
            pytest.fail("REQUIRE_PG_CRON=1 but postgresql-15-cron or initdb is missing")
        pytest.skip("needs Debian's postgresql-15 and postgresql-15-cron")
    directory = Path(tempfile.mkdtemp(prefix="takeover-cron-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    data = directory / "data"
    port = free_port()
    subprocess.run(
        _as_postgres(
            [
                str(POSTGRES_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    settings = f"""
port = {port}
listen_addresses = '127.0.0.1'
unix_socket_directories = '{directory}'
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
fsync = off
"""
    with open(data / "postgresql.conf", "a") as conf:
        conf.write(settings)
    subprocess.run(
        _as_postgres(
            [
                str(POSTGRES_BIN / "pg_ctl"),
                "-D",
                str(data),
                "-w",
                "-l",
                str(directory / "log"),
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        migrations.apply(url)
        demo.seed_if_empty(url)
        yield url
    finally:
        subprocess.run(
            _as_postgres(
                [str(POSTGRES_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
            ),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(directory, ignore_errors=True)


def pg_cron_version(url: str) -> tuple[int, ...]:
    with psycopg.connect(url) as connection:
        connection.execute("create extension if not exists pg_cron")
        row = connection.execute(
            "select extversion from pg_extension where extname = 'pg_cron'"
        ).fetchone()
    assert row is not None
    major, minor = re.findall(r"\d+", row[0])[:2]  # '1.4-1', '1.6'
    return int(major), int(minor)


def cron_sql(**settings: str) -> str:
    """sql/cron.sql with its settings block filled in, as an operator would."""
    text = CRON_SQL.read_text()
    for name, value in settings.items():
        start = text.index(f"select set_config('takeover.{name}', '")
        end = text.index("', false);", start)
        prefix = f"select set_config('takeover.{name}', '"
        text = text[:start] + prefix + value + text[end:]
    return text


def run_cron_sql(url: str, text: str) -> subprocess.CompletedProcess[str]:
    """What the file says to run: psql -v ON_ERROR_STOP=1 -f sql/cron.sql."""
    return subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-f", "-"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )


def jobs(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as connection:
        return connection.execute(
            "select jobname, schedule, command from cron.job order by jobname"
        ).fetchall()


def test_the_in_database_schedule_ends_an_expired_pause_by_itself(cluster: str) -> None:
    # pg_cron 1.5 runs a job every few seconds; Debian bookworm's 1.4 every minute at best.
    every_second = pg_cron_version(cluster) >= (1, 5)
    schedule = "1 seconds" if every_second else "* * * * *"
    ran = run_cron_sql(cluster, cron_sql(cron_mode="database", cron_schedule=schedule))
    assert ran.returncode == 0, ran.stderr
    with psycopg.connect(cluster, autocommit=True) as db:
        db.execute(
            "update conversations set ai_mode = 'paused', paused_at = now() - interval '20 min',"
            " paused_until = now() - interval '5 min', paused_by = %s,"
            " pause_duration_minutes = 15 where id = %s",
            (demo.ATTENDANT_ID, CONVERSATION),
        )

        deadline = time.monotonic() + (15 if every_second else 75)
        while time.monotonic() < deadline:
            row = db.execute(
                "select ai_mode::text from conversations where id = %s", (CONVERSATION,)
            ).fetchone()
            if row == ("active",):
                break
            time.sleep(0.5)
        resumed = [row for row in log_rows(db, CONVERSATION) if row["action"] == "auto_resume"]
        runs = db.execute(
            "select status from cron.job_run_details d join cron.job j using (jobid)"
            " where j.jobname = 'takeover-auto-resume'"
        ).fetchall()

    assert row == ("active",), f"not resumed; pg_cron runs: {runs}"
    assert [(r["reason"], r["triggered_by"], r["new_ai_mode"]) for r in resumed] == [
        ("timer_expired", "system", "active")
    ]
    assert ("succeeded",) in runs


def test_running_it_again_replaces_the_job_in_place(cluster: str) -> None:
    for schedule in ("*/5 * * * *", "*/2 * * * *"):
        ran = run_cron_sql(cluster, cron_sql(cron_mode="database", cron_schedule=schedule))
        assert ran.returncode == 0, ran.stderr

    assert [job for job in jobs(cluster) if job[0] == "takeover-auto-resume"] == [
        ("takeover-auto-resume", "*/2 * * * *", "select public.takeover_sweep(1000)")
    ]
    assert [job[0] for job in jobs(cluster)] == [
        "takeover-auto-resume",
        "takeover-forget-idempotency-keys",
        "takeover-purge-cron-history",
    ]


@pytest.mark.parametrize(
    "settings",
    [
        {"cron_mode": "http"},
        {
            "cron_mode": "http",
            "auto_resume_url": "https://example.run.app/functions/v1/auto-resume",
        },
        {"cron_mode": "http", "service_key": "sb_secret_abc"},
    ],
    ids=["both", "key", "url"],
)
def test_the_http_mode_refuses_unfilled_placeholders_and_changes_nothing(
    cluster: str, settings: dict[str, str]
) -> None:
    assert run_cron_sql(cluster, cron_sql(cron_mode="database")).returncode == 0
    before = jobs(cluster)

    ran = run_cron_sql(cluster, cron_sql(**settings))

    assert ran.returncode != 0
    assert "fill in takeover.auto_resume_url and takeover.service_key" in ran.stderr
    assert jobs(cluster) == before


def test_an_unknown_mode_is_refused(cluster: str) -> None:
    ran = run_cron_sql(cluster, cron_sql(cron_mode="sometimes"))

    assert ran.returncode != 0
    assert "cron_mode must be database or http" in ran.stderr


@pytest.mark.parametrize("setting", ["webhook_dispatch_url", "audit_export_url"])
def test_an_unfilled_placeholder_for_an_optional_job_is_refused(cluster: str, setting: str) -> None:
    assert run_cron_sql(cluster, cron_sql(cron_mode="database")).returncode == 0
    before = jobs(cluster)

    ran = run_cron_sql(cluster, cron_sql(**{setting: "<its URL>"}))

    assert ran.returncode != 0
    assert "fill in takeover.webhook_dispatch_url and takeover.audit_export_url" in ran.stderr
    assert jobs(cluster) == before


def test_the_run_history_of_takeovers_jobs_is_purged_past_7_days_and_no_one_elses(
    cluster: str,
) -> None:
    """A 10-second job adds 8,640 rows a day to cron.job_run_details: the purge job, run
    here as pg_cron would run it, keeps a week of Takeover's and every row of the inbox's."""
    assert run_cron_sql(cluster, cron_sql(cron_mode="database")).returncode == 0
    with psycopg.connect(cluster, autocommit=True) as db:
        db.execute("select cron.schedule('inbox-nightly', '0 4 * * *', 'select 1')")
        ours, theirs = (
            db.execute("select jobid from cron.job where jobname = %s", (name,)).fetchone()
            for name in ("takeover-auto-resume", "inbox-nightly")
        )
        assert ours is not None
        assert theirs is not None
        db.execute("delete from cron.job_run_details")
        for jobid, days_ago in [(ours[0], 8), (ours[0], 6), (theirs[0], 8)]:
            db.execute(
                "insert into cron.job_run_details (jobid, runid, command, status, start_time,"
                " end_time) values (%s, nextval('cron.runid_seq'), 'select 1', 'succeeded',"
                " now() - make_interval(days => %s), now() - make_interval(days => %s))",
                (jobid, days_ago, days_ago),
            )
        [(command,)] = db.execute(
            "select command from cron.job where jobname = 'takeover-purge-cron-history'"
        ).fetchall()

        db.execute(command)

        kept = db.execute(
            "select jobid, extract(day from now() - end_time)::int from cron.job_run_details"
            " order by 1, 2"
        ).fetchall()
        db.execute("select cron.unschedule('inbox-nightly')")
    assert kept == sorted([(ours[0], 6), (theirs[0], 8)])
