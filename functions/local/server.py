"""The local server: every function at /functions/v1/<name>, like `supabase functions serve`,
plus /health and /openapi.json, and the auto-resume on an interval, as the cron would.

    python -m functions.local.server        (what `make run` runs)
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

import functions.app
from functions.local import demo, embedded, migrations
from functions.local.console import console
from functions.shared.config import LOCAL_JWT_SECRET, config, config_or_exit
from functions.shared.database import database, use_database
from functions.shared.errors import Unavailable

log = logging.getLogger("takeover")
# The request log line (functions/shared/http.py) says what these would, once per request.
for _chatty in ("pgserver", "psycopg.pool", "werkzeug"):
    logging.getLogger(_chatty).setLevel(logging.WARNING)


def create_app() -> Flask:
    """The production app (functions/app.py) and the console beside it."""
    app = functions.app.create_app()
    app.register_blueprint(console)
    return app


class Sweeper(threading.Thread):
    """Calls auto-resume every `interval` seconds through the app, as the cron does."""

    def __init__(self, app: Flask, service_key: str, interval: float) -> None:
        super().__init__(name="auto-resume", daemon=True)
        self._client = app.test_client()
        self._headers = {"Authorization": f"Bearer {service_key}"}
        self._interval = interval
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self._interval):
            answer = self._client.post("/functions/v1/auto-resume", json={}, headers=self._headers)
            body: Any = answer.get_json()
            if answer.status_code != 200:
                log.warning("auto-resume answered %s: %s", answer.status_code, body)
            elif body["resumed"]:
                log.info("auto-resume: %s pause(s) ended by the timer", body["resumed"])

    def stop(self) -> None:
        self._stopped.set()


def _prepare_database() -> str | None:
    """Start the embedded Postgres when no database is configured, apply pending migrations
    (over DATABASE_DIRECT_URL when DATABASE_URL is a pooler) and seed the demo workspace
    into an empty database, but only the embedded one or where TAKEOVER_SEED_DEMO=1 asks:
    never into a real database by surprise. The URL the functions use (None with
    SUPABASE_URL)."""
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
    session_url = (None if is_embedded else settings.database_direct_url) or url
    applied = migrations.apply(session_url)
    log.info("migrations applied now: %s", ", ".join(applied) or "none pending")
    if is_embedded or settings.seed_demo:
        if migrations.seed_if_empty(session_url):
            log.info("seeded the demo workspace")
    else:
        log.info("demo workspace not seeded (TAKEOVER_SEED_DEMO=1 seeds an empty database)")
    return url


def _stop_on_sigterm() -> None:
    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not (os.environ.get("SUPABASE_JWT_SECRET") or os.environ.get("SUPABASE_JWKS_URL")):
        os.environ["SUPABASE_JWT_SECRET"] = LOCAL_JWT_SECRET
        config.cache_clear()
    settings = config_or_exit()
    url = _prepare_database()
    if url is not None:
        from functions.shared.postgres import PostgresDatabase

        use_database(PostgresDatabase(url))

    app = create_app()
    host = os.environ.get("HOST", "127.0.0.1")
    server = make_server(host, settings.port, app, threaded=True)
    secret = settings.jwt_secret or LOCAL_JWT_SECRET
    service_key = os.environ.get("SUPABASE_SERVICE_ROLE_KEY") or demo.service_token(secret)
    sweeper = Sweeper(app, service_key, settings.auto_resume_interval_seconds)
    sweeper.start()
    _stop_on_sigterm()
    print(_banner(f"http://{host}:{settings.port}", secret, service_key), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        sweeper.stop()
        server.server_close()
        with contextlib.suppress(Unavailable):
            database().close()


def _banner(base: str, secret: str, service_key: str) -> str:
    attendant = demo.attendant_token(secret, demo.ATTENDANT_ID)
    admin = demo.attendant_token(secret, demo.ADMIN_ID)
    return f"""
Takeover is serving {base}  (Ctrl-C stops it)
  console     {base}/
  functions   {base}/functions/v1/<name>     OpenAPI {base}/openapi.json
  auto-resume every {config().auto_resume_interval_seconds:g}s

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
