"""audit-export: the cron copies the log rows not yet exported to object storage."""

from __future__ import annotations

from pydantic import Field

from functions.edge.http import Call, Function, Route
from functions.edge.identity import SERVICE_ONLY
from functions.shared.config import config
from functions.shared.errors import Conflict
from functions.shared.models import Answer
from functions.shared.models import Request as Body


class ExportRequest(Body):
    limit: int = Field(
        1_000_000, ge=1, le=10_000_000, description="At most this many rows per call."
    )


class ExportAnswer(Answer):
    exported_rows: int
    objects: list[str] = Field(description="The keys of the objects written, in order.")


def export(call: Call[ExportRequest]) -> ExportAnswer:
    # Imported here: boto3 costs every other function's cold start ~70 ms it never uses.
    from functions.export.exporter import export_pending
    from functions.export.object_storage import object_storage

    storage = object_storage()
    if storage is None:
        raise Conflict("export_not_configured", "Set AUDIT_EXPORT_BUCKET to export the log.")
    exported = export_pending(storage, config().audit_export_prefix, call.input.limit)
    return ExportAnswer(exported_rows=exported.rows, objects=exported.keys)


FUNCTION = Function(
    "audit-export",
    Route(
        "POST",
        export,
        "Copy the log rows not yet exported to object storage (the cron)",
        callers=SERVICE_ONLY,
    ),
    # A run takes at most 1,000,000 rows; Cloud Scheduler waits at most 30 minutes.
    timeout_seconds=1800,
    schedule="23 2 * * *",  # daily, 02:23 UTC
    variables=("AUDIT_EXPORT_BUCKET", "AWS_REGION"),
    secrets=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
)
