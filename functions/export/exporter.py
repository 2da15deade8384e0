"""The audit export: ai_pause_logs rows not yet exported, streamed into gzip'd JSON-lines
objects, each row exactly once, without a gap.

Ids do not say what is exported: a transaction can commit a lower id after a higher one was
exported. Transactions do. Each log row records the (top-level) transaction that wrote it
(txid), and a run takes a snapshot: it exports the rows of the transactions that had ended
in that snapshot and not in the previous run's. An ended transaction never writes again, so
every row falls in exactly one such difference; the rows of a transaction still open are
left, whatever their ids, to the first run after it ends (no wall-clock lag).

A run, batch after batch, in three steps (supabase/schemas/60_audit_export.sql):
1. reserve: one call fixes the batch (the next rows of that difference in (txid, id)
   order) and takes a lease on it; while a run holds an unexpired lease, another exports
   nothing;
2. upload: the batch's rows (takeover_audit_export_rows), streamed in one transaction, one
   object per workspace and UTC day, named by its first and last id;
3. commit: one call moves the position past the batch, only for the lease's holder.
A run that dies between 2 and 3 leaves its batch reserved; once the lease expires the next
run uploads the same rows into the same keys, byte for byte (gzip without a timestamp),
then commits: no duplicate, no gap. A failed upload gives its batch back at once.

The export is a heavy reader: every call it makes runs in the database's heavy class.
"""

from __future__ import annotations

import itertools
import json
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from functions.database.instance import database
from functions.database.interface import Database, Streaming
from functions.export.object_storage import ObjectStorage
from functions.shared.errors import ServerMisconfigured
from functions.shared.models import ONCE

log = logging.getLogger("takeover.export")

# Every call of the export reads (or keeps) the log in bulk: the heavy readers' connections.
HEAVY = ONCE.as_heavy_read()
# Rows per reserved batch: bounds what a lost lease repeats and each statement's work.
BATCH_ROWS = 100_000
# How long a run holds its batch before another may take it over (a batch takes seconds).
LEASE_SECONDS = 600
# Rows joined before each call to zlib (fewer, larger calls).
LINES_PER_CHUNK = 1000
FETCH_ROWS = 5000
COMPRESSION_LEVEL = 6
# The bounds of a reserved batch, as the reservation answers them and the rows take them.
BOUNDS = (
    "exported_snapshot",
    "target_snapshot",
    "after_txid",
    "after_id",
    "through_txid",
    "through_id",
)


@dataclass(frozen=True)
class Exported:
    rows: int
    keys: list[str]


@dataclass(frozen=True)
class _Object:
    key: str
    first_id: int
    last_id: int
    rows: int


def export_pending(storage: ObjectStorage, prefix: str, limit: int) -> Exported:
    """Export at most `limit` rows not yet exported, batch after batch."""
    db = database()
    if not isinstance(db, Streaming):
        # The REST adapter answers a call's whole result at once; the export streams the log.
        cause = "the audit export streams the log: SUPABASE_URL's REST adapter cannot"
        log.error("server_misconfigured: %s", cause)
        raise ServerMisconfigured("The audit export needs DATABASE_URL (Postgres).", cause)
    rows = 0
    keys: list[str] = []
    while rows < limit:
        batch = db.call(
            "audit_export_reserve",
            {"limit": min(BATCH_ROWS, limit - rows), "lease_seconds": LEASE_SECONDS},
            HEAVY,
        )
        if "misconfigured" in batch:
            log.error("server_misconfigured: %s", batch["misconfigured"])
            raise ServerMisconfigured(batch["misconfigured"], json.dumps(batch["details"]))
        if batch["busy"]:
            log.info("audit-export: another run holds the batch; nothing exported by this one")
            break
        if not batch["objects"]:
            break
        objects = [_object(prefix, entry) for entry in batch["objects"]]
        try:
            _upload(db, storage, batch, objects)
        except BaseException:
            # The batch stays reserved, unchanged: the next run retries it at once.
            try:
                db.call("audit_export_release", {"token": batch["token"]}, HEAVY)
            except Exception:
                log.warning("audit-export: could not release the batch; its lease will expire")
            raise
        if not _commit(db, batch["token"]):
            # Our lease ran out and another run took the batch over: it commits it.
            break
        rows += sum(entry.rows for entry in objects)
        keys.extend(entry.key for entry in objects)
    return Exported(rows, keys)


def _commit(db: Database, token: str) -> bool:
    """Moves the cursor past the batch; False when another run took it over meanwhile."""
    committed: bool = db.call("audit_export_commit", {"token": token}, HEAVY)["committed"]
    return committed


def _object(prefix: str, entry: dict[str, Any]) -> _Object:
    name = (
        f"workspace_id={entry['workspace_id']}/date={entry['date']}/"
        f"{entry['first_id']}-{entry['last_id']}.jsonl.gz"
    )
    return _Object(
        key=f"{prefix}/{name}" if prefix else name,
        first_id=entry["first_id"],
        last_id=entry["last_id"],
        rows=entry["rows"],
    )


def _upload(
    db: Streaming, storage: ObjectStorage, batch: dict[str, Any], objects: list[_Object]
) -> None:
    bounds = {name: batch[name] for name in BOUNDS}
    with db.stream("audit_export_rows", bounds, fetch_rows=FETCH_ROWS) as stream:
        for entry in objects:
            _upload_object(storage, entry, itertools.islice(stream, entry.rows))


def _upload_object(storage: ObjectStorage, entry: _Object, rows: Iterator[tuple[int, str]]) -> None:
    upload = storage.upload(entry.key, "application/gzip")
    # wbits 31: a gzip member; zlib writes no timestamp nor name in its header.
    compressor = zlib.compressobj(COMPRESSION_LEVEL, zlib.DEFLATED, 31)
    first = last = None
    count = 0
    try:
        while chunk := list(itertools.islice(rows, LINES_PER_CHUNK)):
            if first is None:
                first = chunk[0][0]
            last = chunk[-1][0]
            count += len(chunk)
            text = "\n".join(line for _, line in chunk) + "\n"
            upload.write(compressor.compress(text.encode()))
        if (first, last, count) != (entry.first_id, entry.last_id, entry.rows):
            raise RuntimeError(
                f"audit export: {entry.key} streamed ids {first}..{last} ({count} rows)"
            )
        upload.write(compressor.flush())
        upload.finish()
    except BaseException:
        upload.abort()
        raise
