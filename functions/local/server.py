"""The local server: every function at /functions/v1/<name>, like `supabase functions serve`,
plus /health and /openapi.json, and the auto-resume on an interval, as the cron would.

    python -m functions.local.server        (what `make run` runs)
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

import functions.catalogue.app
from functions import migrations
from functions.database.instance import database, use_database
from functions.local import demo, embedded
from functions.local.console import console
from functions.shared import logs
from functions.shared.config import LOCAL_JWT_SECRET, config, config_or_exit
from functions.shared.errors import Unavailable

log = logging.getLogger("takeover")
# The request log line (functions/edge/http.py) says what these would, once per request.
for _chatty in ("pgserver", "psycopg.pool", "werkzeug"):
    logging.getLogger(_chatty).setLevel(logging.WARNING)


def create_app() -> Flask:
    """The production app (functions/catalogue/app.py) and the console beside it."""
    app = functions.catalogue.app.create_app()
    app.register_blueprint(console)
    return app


_CREDENTIAL_VARIABLES = ("SUPABASE_JWT_SECRET", "SUPABASE_JWKS_URL", "SUPABASE_SECRET_KEYS")
SCHEDULE_THREAD = "schedule:"  # the name of a Schedule's threads starts so


class Schedule(threading.Thread):
    """Calls a service function every `interval` seconds through the app, as a cron does,
    and logs what `summary` makes of an answer worth telling (None: nothing happened). Up to
    `overlap` runs may be under way at once: a webhook-dispatch run held up by an endpoint
    that does not answer leaves the next run to the others."""

    def __init__(
        self,
        app: Flask,
        service_key: str,
        function: str,
        interval: float,
        summary: Callable[[Any], str | None],
        overlap: int = 1,
    ) -> None:
        super().__init__(name=f"{SCHEDULE_THREAD}{function}", daemon=True)
        self._client = app.test_client()
        self._headers = {"Authorization": f"Bearer {service_key}"}
        self._function = function
        self._interval = interval
        self._summary = summary
        self._runs = threading.BoundedSemaphore(overlap)
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self._interval):
            if self._runs.acquire(blocking=False):
                threading.Thread(target=self._call, name=self.name, daemon=True).start()

    def _call(self) -> None:
        try:
            answer = self._client.post(
                f"/functions/v1/{self._function}", json={}, headers=self._headers
            )
            body: Any = answer.get_json()
            if answer.status_code != 200:
                log.warning("%s answered %s: %s", self._function, answer.status_code, body)
            elif (said := self._summary(body)) is not None:
                log.info("%s: %s", self._function, said)
        finally:
            self._runs.release()

    def stop(self) -> None:
        self._stopped.set()


def schedules(app: Flask, service_key: str) -> list[Schedule]:
    """What the cron does in production, on make run's intervals."""
    settings = config()
    found = [
        Schedule(
            app,
            service_key,
            "auto-resume",
            settings.auto_resume_interval_seconds,
            lambda body: (
                f"{body['resumed']} pause(s) ended by the timer" if body["resumed"] else None
            ),
        ),
        Schedule(
            app,
            service_key,
            "webhook-dispatch",
            settings.webhook_dispatch_interval_seconds,
            lambda body: (
                "{delivered} delivered, {failed} failed, {pending} pending".format(**body)
                if body["delivered"] or body["failed"]
                else None
            ),
            overlap=3,
        ),
    ]
    if settings.audit_export_bucket:
        found.append(
            Schedule(
                app,
                service_key,
                "audit-export",
                settings.audit_export_interval_seconds,
                lambda body: (
                    f"{body['exported_rows']} row(s) in {len(body['objects'])} object(s)"
                    if body["exported_rows"]
                    else None
                ),
            )
        )
    return found


def _prepare_database() -> str | None:
    """Start the embedded Postgres when no database is configured, apply pending migrations
    (over DATABASE_DIRECT_URL when DATABASE_URL is a pooler) and seed the demo workspace,
    with four weeks of past takeovers for the Reports view, into an empty database, but only
    the embedded one or where TAKEOVER_SEED_DEMO=1 asks: never into a real database by
    surprise. The URL the functions use (None with SUPABASE_URL)."""
    settings = config()
    url = settings.database_url
    is_embedded = url is None and settings.supabase_url is None
    if is_embedded:
        url = embedded.start()
        log.info("embedded Postgres under %s", embedded.DATA_DIR)
    if url is None:
        log.info(
            "Supabase project %s: apply migrations with `supabase db push`", settings.supabase_url
        )
        return None
    direct = None if is_embedded else settings.database_direct_url
    session_url = direct or url
    try:
        applied = migrations.apply(session_url)
    except migrations.MissingDatabase as refused:
        variable = "DATABASE_DIRECT_URL" if direct else "DATABASE_URL"
        raise SystemExit(f"make run: {variable}: {refused}") from None
    except migrations.UnknownMigrations as refused:
        raise SystemExit(f"make run: {refused}") from None  # what to do, without a traceback
    log.info("migrations applied now: %s", ", ".join(applied) or "none pending")
    if is_embedded or settings.seed_demo:
        if demo.seed_if_empty(session_url):
            demo.load_history(session_url)
            log.info("seeded the demo workspace, with four weeks of past takeovers")
    else:
        log.info("demo workspace not seeded (TAKEOVER_SEED_DEMO=1 seeds an empty database)")
    return url


def _stacks_on_sigquit() -> None:
    """kill -QUIT prints where every thread is (a server that will not stop, say)."""
    faulthandler.register(signal.SIGQUIT, all_threads=True)


def _stop_on_sigterm() -> None:
    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


class _QuietSchedules(logging.Filter):
    """make run's own cron calls get a request log line when they fail, not every 2 s when
    they succeed (Schedule logs what they did)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            (record.threadName or "").startswith(SCHEDULE_THREAD)
            and logs.fields(record).get("severity") == "INFO"
        )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("takeover.request").addFilter(_QuietSchedules())
    # The Supabase CLI's public local secret, only where no credential is configured at all
    # (the demo); a deployment's own keys are never joined by one anyone can sign with.
    if not any(os.environ.get(name) for name in _CREDENTIAL_VARIABLES):
        os.environ["SUPABASE_JWT_SECRET"] = LOCAL_JWT_SECRET
        if os.environ.get("DATABASE_URL"):
            log.warning(
                "no SUPABASE_JWT_SECRET, SUPABASE_JWKS_URL or SUPABASE_SECRET_KEYS: signing"
                " demo tokens with the Supabase CLI's public local secret"
            )
    # Local endpoints (http://127.0.0.1:...) are what one tries webhooks with here; an
    # explicit 0 is respected.
    os.environ.setdefault("WEBHOOKS_ALLOW_PRIVATE_URLS", "1")
    config.cache_clear()
    settings = config_or_exit()
    url = _prepare_database()
    if url is not None:
        from functions.database.postgres import PostgresDatabase

        use_database(PostgresDatabase(url))

    app = create_app()
    host = os.environ.get("HOST", "127.0.0.1")
    server = make_server(host, settings.port, app, threaded=True)
    secret = settings.jwt_secret or LOCAL_JWT_SECRET
    # make run's own cron calls use the deployment's service key where it has one.
    configured_key = os.environ.get("SUPABASE_SERVICE_ROLE_KEY") or next(
        iter(settings.secret_keys), None
    )
    service_key = configured_key or demo.service_token(secret)
    running = schedules(app, service_key)
    for schedule in running:
        schedule.start()
    _stop_on_sigterm()
    _stacks_on_sigquit()
    # A key from the environment is a real secret: the banner names it, never prints it.
    shown_key = "<your service key>" if configured_key else service_key
    print(_banner(f"http://{host}:{settings.port}", secret, shown_key), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        for schedule in running:
            schedule.stop()
        server.server_close()
        with contextlib.suppress(Unavailable):
            database().close()


def _export_line() -> str:
    settings = config()
    if not settings.audit_export_bucket:
        return ""
    return (
        f"\n  audit-export every {settings.audit_export_interval_seconds:g}s"
        f" to s3://{settings.audit_export_bucket}/{settings.audit_export_prefix}"
    )


def _banner(base: str, secret: str, service_key: str) -> str:
    attendant = demo.attendant_token(secret, demo.ATTENDANT_ID)
    admin = demo.attendant_token(secret, demo.ADMIN_ID)
    return f"""
Takeover is serving {base}  (Ctrl-C stops it)
  console     {base}/
  functions   {base}/functions/v1/<name>     OpenAPI {base}/openapi.json
  auto-resume every {config().auto_resume_interval_seconds:g}s, webhooks every \
{config().webhook_dispatch_interval_seconds:g}s{_export_line()}

Demo tokens (workspace {demo.WORKSPACE_ID}):
  export ATTENDANT={attendant}
  export ADMIN={admin}
  export SERVICE={service_key}

Try:
  curl -s -X POST {base}/functions/v1/pause-activate \\
    -H "Authorization: Bearer $ATTENDANT" -H 'Content-Type: application/json' \\
    -d '{{"conversation_id": "{demo.FIRST_CONVERSATION_ID}", "duration_minutes": 15}}'
  curl -s -X POST {base}/functions/v1/interaction-gate \\
    -H "Authorization: Bearer $SERVICE" -H 'Content-Type: application/json' \\
    -d '{{"conversation_id": "{demo.FIRST_CONVERSATION_ID}", "message_id": "m-1"}}'
"""


if __name__ == "__main__":
    main()
