"""audit-export: the log copied to S3 (moto in server mode, real HTTP on 127.0.0.1), every row
exactly once, without a gap, whatever order transactions commit in."""

from __future__ import annotations

import gzip
import http.client
import json
import re
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler
from typing import Any

import botocore.exceptions
import psycopg
import pytest
import respx

from functions.export import exporter, object_storage
from functions.local import demo
from functions.shared.config import config
from tests.conftest import s3_client
from tests.local_http import LocalServer, Quiet
from tests.support import LOG_FIELDS, Api, assert_refused

OTHER_WORKSPACE_CONVERSATION = "7a1c0000-0000-4000-8000-0000000000c9"
KEY = re.compile(
    r"^ai_pause_logs/workspace_id=(?P<workspace>[0-9a-f-]{36})/date=(?P<date>\d{4}-\d{2}-\d{2})/"
    r"(?P<first>\d+)-(?P<last>\d+)\.jsonl\.gz$"
)


# ---------------------------------------------------------------------------
# A local S3, and a proxy in front of it that can fail
# ---------------------------------------------------------------------------


class FailingProxy:
    """Forwards to moto, until told to answer every request with a 503 of its own."""

    def __init__(self, upstream: str) -> None:
        self.fail_after: int | None = None
        self.requests = 0
        upstream_host = upstream.removeprefix("http://")
        proxy = self

        class Handler(Quiet, BaseHTTPRequestHandler):
            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.requests += 1
                if proxy.fail_after is not None and proxy.requests > proxy.fail_after:
                    error = b"<Error><Code>ServiceUnavailable</Code><Message>down</Message></Error>"
                    self.send_response(503)
                    self.send_header("Content-Length", str(len(error)))
                    self.end_headers()
                    self.wfile.write(error)
                    return
                connection = http.client.HTTPConnection(upstream_host, timeout=30)
                connection.request(self.command, self.path, body, dict(self.headers))
                answer = connection.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                connection.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any  # noqa: N815

        self._server = LocalServer(Handler)
        self.url = self._server.url

    def close(self) -> None:
        self._server.close()


def stored(env: dict[str, str]) -> dict[str, bytes]:
    """Every object of the bucket: key -> its bytes."""
    client = s3_client(env)
    objects: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=env["AUDIT_EXPORT_BUCKET"]):
        for entry in page.get("Contents", []):
            body = client.get_object(Bucket=env["AUDIT_EXPORT_BUCKET"], Key=entry["Key"])["Body"]
            objects[entry["Key"]] = body.read()
    return objects


def exported_rows(env: dict[str, str]) -> list[dict[str, Any]]:
    """Every row of every object in id order, each object checked: its rows in id order, of
    the key's workspace and day, between its first and last id."""
    rows: list[dict[str, Any]] = []
    for key, data in stored(env).items():
        match = KEY.match(key)
        assert match, key
        lines = gzip.decompress(data).decode().splitlines()
        objects = [json.loads(line) for line in lines]
        ids = [row["id"] for row in objects]
        assert ids == sorted(ids), key
        assert len(set(ids)) == len(ids), key
        assert (ids[0], ids[-1]) == (int(match["first"]), int(match["last"])), key
        assert {row["workspace_id"] for row in objects} == {match["workspace"]}, key
        assert {row["created_at"][:10] for row in objects} == {match["date"]}, key
        rows.extend(objects)
    return sorted(rows, key=lambda row: row["id"])


def log(db: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """The log as the export must write it: every column but txid, times in UTC."""
    utc = """'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"""
    query = f"""
        select (to_jsonb(l) - 'txid' || jsonb_build_object(
                 'created_at', to_char(l.created_at at time zone 'UTC', {utc}),
                 'paused_until', to_char(l.paused_until at time zone 'UTC', {utc})))::text
        from ai_pause_logs l order by id
    """
    return [json.loads(row[0]) for row in db.execute(query).fetchall()]


def add_rows(db: psycopg.Connection[Any], count: int, conversation: str | None = None) -> None:
    """Log rows inserted as the owner (the append-only trigger refuses only changes)."""
    db.execute(
        """
        insert into ai_pause_logs (conversation_id, action, triggered_by, previous_ai_mode,
                                   new_ai_mode, reason)
        select %s, 'interaction_blocked', 'ai_agent', 'paused', 'paused', 'row ' || n
        from generate_series(1, %s) n
        """,
        (conversation or str(demo.FIRST_CONVERSATION_ID), count),
    )


def export(api: Api, body: Any = None) -> Any:
    answer = api.post("audit-export", {} if body is None else body, token=api.service)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def progress(db: psycopg.Connection[Any]) -> tuple[bool, int, bool]:
    """(a snapshot is fully exported, rows exported towards the next one up to this id,
    a batch is reserved)."""
    row = db.execute(
        "select exported_snapshot is not null, coalesce(position_id, 0), batch_token is not null"
        " from takeover_private.audit_export_state"
    ).fetchone()
    if row is None:  # the first reservation creates it
        return NOTHING_EXPORTED
    return row[0], row[1], row[2]


NOTHING_EXPORTED = (False, 0, False)
EVERYTHING_EXPORTED = (True, 0, False)


# ---------------------------------------------------------------------------
# The copy: every row, once, in order
# ---------------------------------------------------------------------------


def test_every_row_of_two_workspaces_lands_in_exactly_one_object(
    api: Api, db: psycopg.Connection[Any], bucket: dict[str, str]
) -> None:
    # Given rows written by the functions and rows of a second workspace
    conversation = str(demo.FIRST_CONVERSATION_ID)
    assert api.post("pause-activate", {"conversation_id": conversation}, token=api.attendant)
    api.post(
        "interaction-gate",
        {"conversation_id": conversation, "message_id": "m-1"},
        token=api.service,
    )
    api.post("pause-resume", {"conversation_id": conversation}, token=api.attendant)
    add_rows(db, 30)
    add_rows(db, 20, OTHER_WORKSPACE_CONVERSATION)

    answer = export(api)

    expected = log(db)
    assert answer["exported_rows"] == len(expected) >= 53
    objects = stored(bucket)
    assert sorted(answer["objects"]) == sorted(objects)
    assert {KEY.match(key)["workspace"] for key in objects} == {  # type: ignore[index]
        str(demo.WORKSPACE_ID),
        "7a1c0000-0000-4000-8000-000000000002",
    }
    # Row for row, every column (and not the export's own txid)
    assert exported_rows(bucket) == expected
    assert set(expected[0]) == LOG_FIELDS | {"workspace_id", "paused_until"}
    assert progress(db) == EVERYTHING_EXPORTED


def test_human_replies_and_handoffs_are_exported_and_drafts_are_not(
    api: Api, db: psycopg.Connection[Any], bucket: dict[str, str]
) -> None:
    conversation = str(demo.FIRST_CONVERSATION_ID)
    replied = {"conversation_id": conversation, "message_id": "wamid.1"}
    assert api.post("human-reply", replied, token=api.attendant).status_code == 200
    refused = {"conversation_id": conversation, "message_id": "m-1", "draft": "a refund of 42"}
    assert api.post("interaction-gate", refused, token=api.service).get_json()["allowed"] is False
    api.post("pause-resume", {"conversation_id": conversation}, token=api.attendant)
    assert api.hand_over(conversation, reason="asked").status_code == 200

    answer = export(api)

    expected = log(db)
    assert answer["exported_rows"] == 4
    assert exported_rows(bucket) == expected
    assert [(row["action"], row["reason"], row["triggered_by"]) for row in expected] == [
        ("pause_activated", "human_replied", str(demo.ATTENDANT_ID)),
        ("interaction_blocked", None, "ai_agent"),
        ("force_resume", None, str(demo.ATTENDANT_ID)),
        ("pause_activated", "asked", "support-bot"),
    ]
    assert not [key for key, data in stored(bucket).items() if b"refund" in gzip.decompress(data)]


def test_a_rerun_exports_nothing_new_and_the_next_rows_go_to_new_objects(
    api: Api, db: psycopg.Connection[Any], bucket: dict[str, str]
) -> None:
    add_rows(db, 10)
    first = export(api)
    before = stored(bucket)

    assert export(api) == {"exported_rows": 0, "objects": []}
    assert stored(bucket) == before

    add_rows(db, 5)
    second = export(api)
    assert second["exported_rows"] == 5
    assert not set(second["objects"]) & set(first["objects"])
    assert exported_rows(bucket) == log(db)
    for key, data in before.items():
        assert stored(bucket)[key] == data


def test_limit_bounds_a_run_and_the_next_run_continues(
    api: Api, db: psycopg.Connection[Any], bucket: dict[str, str]
) -> None:
    add_rows(db, 25)
    total = len(log(db))
    assert export(api, {"limit": 10})["exported_rows"] == 10
    assert export(api, {"limit": 10})["exported_rows"] == 10
    assert export(api)["exported_rows"] == total - 20
    assert exported_rows(bucket) == log(db)


def test_a_large_object_is_uploaded_in_parts(
    api: Api,
    db: psycopg.Connection[Any],
    bucket: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Parts of 64 KiB (S3's 5 MiB minimum lowered in moto): the same code path, less data
    import moto.s3.models

    monkeypatch.setattr(object_storage, "PART_SIZE", 64 * 1024)
    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", 1)
    db.execute(
        """
        insert into ai_pause_logs (conversation_id, action, triggered_by, previous_ai_mode,
                                   new_ai_mode, reason)
        select %s, 'interaction_blocked', 'ai_agent', 'paused', 'paused', md5(n::text)
        from generate_series(1, 5000) n
        """,
        (str(demo.FIRST_CONVERSATION_ID),),
    )
    answer = export(api)
    (key,) = [key for key in answer["objects"] if str(demo.WORKSPACE_ID) in key]
    head = s3_client(bucket).head_object(Bucket=bucket["AUDIT_EXPORT_BUCKET"], Key=key)
    assert head["ContentLength"] > 64 * 1024
    assert re.search(r"-\d+\"$", head["ETag"]), head["ETag"]  # a multipart upload's ETag
    assert exported_rows(bucket) == log(db)


# ---------------------------------------------------------------------------
# Exactly once, whatever order transactions commit in
# ---------------------------------------------------------------------------


def test_a_lower_id_committed_after_a_higher_one_was_exported_is_exported_once(
    api: Api, db: psycopg.Connection[Any], db_url: str, bucket: dict[str, str]
) -> None:
    add_rows(db, 3)
    export(api)
    with psycopg.connect(db_url) as late:
        # A transaction draws the lower id and stays open across an export...
        late_id = late.execute(
            "insert into ai_pause_logs (conversation_id, action, triggered_by,"
            " previous_ai_mode, new_ai_mode, reason)"
            " values (%s, 'interaction_blocked', 'ai_agent', 'paused', 'paused', 'late')"
            " returning id",
            (str(demo.FIRST_CONVERSATION_ID),),
        ).fetchone()[0]  # type: ignore[index]
        # ...while a higher id commits, and is exported
        add_rows(db, 1)
        higher_id = log(db)[-1]["id"]
        assert higher_id > late_id
        held = export(api)
        assert held["exported_rows"] == 1
        assert held["objects"][0].endswith(f"/{higher_id}-{higher_id}.jsonl.gz")
        assert late_id not in {row["id"] for row in exported_rows(bucket)}
        late.commit()

    after = export(api)
    assert after["exported_rows"] == 1
    assert after["objects"][0].endswith(f"/{late_id}-{late_id}.jsonl.gz")
    ids = [row["id"] for row in exported_rows(bucket)]
    assert sorted(ids) == [row["id"] for row in log(db)]  # every row, exactly once
    assert ids.count(late_id) == ids.count(higher_id) == 1
    assert export(api)["exported_rows"] == 0


def test_a_rolled_back_row_is_never_exported_and_holds_nothing_back(
    api: Api, db: psycopg.Connection[Any], db_url: str, bucket: dict[str, str]
) -> None:
    with psycopg.connect(db_url) as aborted:
        aborted.execute(
            "insert into ai_pause_logs (conversation_id, action, triggered_by,"
            " previous_ai_mode, new_ai_mode) values"
            " (%s, 'interaction_blocked', 'ai_agent', 'paused', 'paused')",
            (str(demo.FIRST_CONVERSATION_ID),),
        )
        add_rows(db, 2)
        assert export(api)["exported_rows"] == len(log(db))
        aborted.rollback()
    assert export(api)["exported_rows"] == 0
    assert exported_rows(bucket) == log(db)


def test_rows_committed_a_moment_ago_are_exported_now(
    api: Api, db: psycopg.Connection[Any], bucket: dict[str, str]
) -> None:
    # Open readers hold nothing back: only transactions that write have an id.
    with psycopg.connect(db.info.dsn) as reader:
        reader.execute("select count(*) from ai_pause_logs")
        add_rows(db, 1)
        assert export(api)["exported_rows"] == len(log(db))


def test_a_run_killed_after_its_upload_is_repeated_into_the_same_keys(
    api: Api,
    db: psycopg.Connection[Any],
    bucket: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_rows(db, 12)
    add_rows(db, 4, OTHER_WORKSPACE_CONVERSATION)
    expected_first = log(db)

    def killed(*_: Any) -> Any:
        raise RuntimeError("killed between the upload and the cursor update")

    with monkeypatch.context() as patch:
        patch.setattr(exporter, "_commit", killed)
        answer = api.post("audit-export", {}, token=api.service)
    assert answer.status_code == 500
    uploaded = stored(bucket)
    assert exported_rows(bucket) == expected_first
    assert progress(db) == (False, 0, True)  # uploaded, not committed: still reserved

    # An overlapping run while the lease holds: exports nothing
    assert export(api) == {"exported_rows": 0, "objects": []}

    # Later rows arrive; the lease of the dead run expires; the next run repeats its batch
    add_rows(db, 3)
    db.execute("update takeover_private.audit_export_state set batch_expires_at = now()")
    again = export(api)

    assert again["exported_rows"] == len(log(db))
    after = stored(bucket)
    for key, data in uploaded.items():
        assert after[key] == data  # same key, same bytes
    assert len(after) == len(uploaded) + 1  # the later rows: one new object
    assert exported_rows(bucket) == log(db)  # no duplicate, no gap
    assert progress(db) == EVERYTHING_EXPORTED


def test_overlapping_runs_never_export_a_row_twice(
    api: Api,
    db: psycopg.Connection[Any],
    bucket: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(exporter, "BATCH_ROWS", 50)
    add_rows(db, 400)
    add_rows(db, 100, OTHER_WORKSPACE_CONVERSATION)
    answers: list[Any] = []

    def run() -> None:
        answers.append(api.post("audit-export", {}, token=api.service))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    export(api)  # whatever a busy run left, the next takes

    assert [answer.status_code for answer in answers] == [200] * 4
    keys = [key for answer in answers for key in answer.get_json()["objects"]]
    assert len(keys) == len(set(keys))
    assert sum(answer.get_json()["exported_rows"] for answer in answers) <= len(log(db))
    assert exported_rows(bucket) == log(db)


# ---------------------------------------------------------------------------
# Configuration and storage failures
# ---------------------------------------------------------------------------


def test_without_a_bucket_the_export_is_not_configured(
    api: Api, db: psycopg.Connection[Any], s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUDIT_EXPORT_BUCKET")
    config.cache_clear()
    answer = api.post("audit-export", {}, token=api.service)
    assert_refused(answer, 409, "export_not_configured")
    assert progress(db) == NOTHING_EXPORTED


def test_a_missing_bucket_is_a_misconfiguration_that_exports_nothing(
    api: Api, db: psycopg.Connection[Any], s3_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    add_rows(db, 5)
    answer = api.post("audit-export", {}, token=api.service)
    assert_refused(answer, 500, "server_misconfigured")
    assert "NoSuchBucket" in caplog.text  # logged with its cause
    assert progress(db) == (False, 0, True)

    # Once the bucket exists, the next run exports everything at once
    s3_client(s3_env).create_bucket(Bucket=s3_env["AUDIT_EXPORT_BUCKET"])
    assert export(api)["exported_rows"] == len(log(db))
    assert exported_rows(s3_env) == log(db)


def test_refused_credentials_are_a_misconfiguration_that_exports_nothing(
    api: Api,
    db: psycopg.Connection[Any],
    bucket: dict[str, str],
    moto_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    add_rows(db, 5)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000")
    object_storage.forget_clients()
    set_moto_auth(moto_url, "0")  # moto checks keys from now on
    try:
        answer = api.post("audit-export", {}, token=api.service)
    finally:
        set_moto_auth(moto_url, "inf")
    assert_refused(answer, 500, "server_misconfigured")
    assert "InvalidAccessKeyId" in caplog.text
    assert progress(db)[:2] == (False, 0)
    assert stored(bucket) == {}


def set_moto_auth(moto_url: str, count: str) -> None:
    request = urllib.request.Request(  # noqa: S310
        f"{moto_url}/moto-api/reset-auth",
        data=count.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    # The local moto, over http
    with urllib.request.urlopen(request) as answer:  # noqa: S310
        assert answer.status == 200


def test_storage_failing_mid_batch_is_a_503_and_the_next_run_retries_it(
    api: Api,
    db: psycopg.Connection[Any],
    bucket: dict[str, str],
    moto_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_rows(db, 10)
    add_rows(db, 10, OTHER_WORKSPACE_CONVERSATION)
    proxy = FailingProxy(moto_url)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url)
        config.cache_clear()
        proxy.fail_after = 1  # the first object goes through, then S3 answers 503
        answer = api.post("audit-export", {}, token=api.service)
        assert_refused(answer, 503, "storage_unavailable")
        assert answer.headers["Retry-After"]
        assert progress(db)[:2] == (False, 0)
        assert len(stored(bucket)) == 1

        proxy.fail_after = None
        assert export(api)["exported_rows"] == len(log(db))
    finally:
        proxy.close()
    assert len(stored(bucket)) == 2
    assert exported_rows(bucket) == log(db)


# ---------------------------------------------------------------------------
# Who may call it, and bad input
# ---------------------------------------------------------------------------


def test_only_the_service_may_export(
    api: Api, db: psycopg.Connection[Any], bucket: dict[str, str]
) -> None:
    add_rows(db, 2)
    assert api.post("audit-export", {}, token=api.admin).status_code == 403
    assert api.post("audit-export", {}).status_code == 401
    assert stored(bucket) == {}


@pytest.mark.parametrize("body", [{"limit": 0}, {"limit": 10_000_001}, {"limit": "x"}, {"x": 1}])
def test_bad_input_is_a_422_that_exports_nothing(
    api: Api, db: psycopg.Connection[Any], bucket: dict[str, str], body: Any
) -> None:
    add_rows(db, 2)
    answer = api.post("audit-export", body, token=api.service)
    assert answer.status_code == 422
    assert stored(bucket) == {}
    assert progress(db) == NOTHING_EXPORTED


def test_through_the_rest_adapter_it_is_a_misconfiguration(
    api: Api, bucket: dict[str, str]
) -> None:
    # PostgREST answers one call at a time; the export streams the log: DATABASE_URL only.
    from functions.database.instance import use_database
    from functions.database.rest import SupabaseDatabase

    with respx.mock(assert_all_called=False) as rest:
        previous = use_database(SupabaseDatabase("https://export.supabase.co", "service-key"))
        try:
            answer = api.post("audit-export", {}, token=api.service)
        finally:
            use_database(previous)
        assert not rest.calls  # refused before anything is reserved
    assert_refused(answer, 500, "server_misconfigured")


# ---------------------------------------------------------------------------
# make run: on an interval when a bucket is configured
# ---------------------------------------------------------------------------


def test_the_local_server_exports_on_its_interval(
    api: Api,
    db: psycopg.Connection[Any],
    bucket: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from functions.local.server import create_app, schedules

    add_rows(db, 7)
    monkeypatch.setenv("AUDIT_EXPORT_INTERVAL_SECONDS", "0.05")
    config.cache_clear()
    every = schedules(create_app(), api.service)
    (exporter,) = [s for s in every if s.name.endswith("audit-export")]
    exporter.start()
    try:
        deadline = time.monotonic() + 20
        while progress(db) != EVERYTHING_EXPORTED and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        exporter.stop()
        exporter.join(timeout=20)
    assert exported_rows(bucket) == log(db)


def test_transaction_ids_behind_the_export_stop_it_rather_than_skip_rows(
    api: Api, db: psycopg.Connection[Any], bucket: dict[str, str]
) -> None:
    # As after a restore into another cluster: the exported snapshot is ahead of the ids.
    add_rows(db, 3)
    export(api)
    db.execute(
        "update takeover_private.audit_export_state"
        " set exported_snapshot = '9000000000:9000000000:'"
    )
    add_rows(db, 2)
    before = stored(bucket)

    answer = api.post("audit-export", {}, token=api.service)

    assert_refused(answer, 500, "server_misconfigured")
    assert stored(bucket) == before


def test_a_reservation_inside_a_transaction_that_wrote_is_refused(
    db: psycopg.Connection[Any], db_url: str
) -> None:
    # Its own uncommitted rows would pass for ended in its snapshot: it must run alone.
    with psycopg.connect(db_url) as connection:
        add_rows(connection, 1)
        with pytest.raises(psycopg.errors.RaiseException, match="transaction of its own"):
            connection.execute("select public.takeover_audit_export_reserve(10, 60)")
    assert progress(db) == NOTHING_EXPORTED


def test_an_object_lock_bucket_keeps_every_object_write_once(
    api: Api, db: psycopg.Connection[Any], s3_env: dict[str, str]
) -> None:
    # The AWS setup of docs/audit-export.md: Object Lock, a default retention in compliance
    # mode. Its uploads must carry Content-MD5, which the export sends.
    client = s3_client(s3_env)
    name = s3_env["AUDIT_EXPORT_BUCKET"]
    client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    client.put_object_lock_configuration(
        Bucket=name,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )
    add_rows(db, 5)

    (key,) = export(api)["objects"]

    assert exported_rows(s3_env) == log(db)
    versions = client.list_object_versions(Bucket=name)["Versions"]
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        client.delete_object(Bucket=name, Key=key, VersionId=versions[0]["VersionId"])


def test_a_txid_given_by_hand_is_replaced_by_the_writing_transaction(
    db: psycopg.Connection[Any],
) -> None:
    """The export's rule rests on txid being the writer's transaction, for any writer."""
    with db.transaction():
        row = db.execute(
            "insert into ai_pause_logs (conversation_id, action, triggered_by,"
            " previous_ai_mode, new_ai_mode, txid)"
            " values (%s, 'pause_activated', 'service', 'active', 'paused', '1')"
            " returning txid = pg_current_xact_id()",
            (demo.FIRST_CONVERSATION_ID,),
        ).fetchone()
    assert row == (True,)
