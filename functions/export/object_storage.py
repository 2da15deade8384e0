"""S3-compatible object storage through boto3, one code path for AWS S3, Supabase Storage's
S3 endpoint and MinIO (AWS_ENDPOINT_URL_S3 picks the endpoint; boto3 reads the usual AWS
credential variables itself)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
import threading
from base64 import b64encode
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from functions.shared.config import config
from functions.shared.errors import ServerMisconfigured, Unavailable

log = logging.getLogger("takeover.export")

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# S3 parts are 5 MiB at least (but the last); a part is spooled, not held: only its first
# SPOOL_IN_MEMORY bytes stay in memory, the rest goes to a temporary file.
PART_SIZE = 8 * 1024 * 1024
SPOOL_IN_MEMORY = 256 * 1024

# What S3 answers when it is the one failing: worth a retry.
_RETRYABLE_CODES = frozenset(
    {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "RequestTimeTooSkewed"}
)


class ObjectStorage:
    def __init__(self, bucket: str, endpoint_url: str | None) -> None:
        self.bucket = bucket
        boto_config = BotoConfig(
            connect_timeout=5,
            read_timeout=60,
            retries={"mode": "standard", "max_attempts": 3},
            # S3-compatible stores (Supabase Storage, MinIO) name buckets in the path; AWS
            # keeps its default (virtual hosts).
            s3={"addressing_style": "path"} if endpoint_url else None,
            # Content-MD5 (below) is what every S3-compatible store checks, and what AWS
            # needs on a bucket with Object Lock; the newer CRC trailers are not everywhere.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self.client: S3Client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, config=boto_config
        )

    def upload(self, key: str, content_type: str) -> Upload:
        return Upload(self, key, content_type)


class Upload:
    """One object written as a stream: a single PUT when it stays under PART_SIZE, else a
    multipart upload, a part at a time. Memory stays that of the spool whatever the size."""

    def __init__(self, storage: ObjectStorage, key: str, content_type: str) -> None:
        self._storage = storage
        self.key = key
        self._content_type = content_type
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._spool = _new_spool()
        self._size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)

    def write(self, data: bytes) -> None:
        self._spool.write(data)
        self._md5.update(data)
        self._size += len(data)
        if self._size >= PART_SIZE:
            with storage_errors():
                self._send_part()

    def finish(self) -> None:
        with storage_errors():
            client, bucket = self._storage.client, self._storage.bucket
            if self._upload_id is None:
                self._spool.seek(0)
                client.put_object(
                    Bucket=bucket,
                    Key=self.key,
                    Body=self._spool,
                    ContentLength=self._size,
                    ContentMD5=self._digest(),
                    ContentType=self._content_type,
                )
            else:
                if self._size:
                    self._send_part()
                client.complete_multipart_upload(
                    Bucket=bucket,
                    Key=self.key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},  # type: ignore[typeddict-item]
                )
            self._spool.close()

    def abort(self) -> None:
        """Best effort: an upload left open costs storage until the bucket's lifecycle ends
        it; the object itself never appears."""
        self._spool.close()
        if self._upload_id is not None:
            with contextlib.suppress(BotoCoreError, ClientError):
                self._storage.client.abort_multipart_upload(
                    Bucket=self._storage.bucket, Key=self.key, UploadId=self._upload_id
                )

    def _send_part(self) -> None:
        client, bucket = self._storage.client, self._storage.bucket
        if self._upload_id is None:
            created = client.create_multipart_upload(
                Bucket=bucket, Key=self.key, ContentType=self._content_type
            )
            self._upload_id = created["UploadId"]
        number = len(self._parts) + 1
        self._spool.seek(0)
        sent = client.upload_part(
            Bucket=bucket,
            Key=self.key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=self._spool,
            ContentLength=self._size,
            ContentMD5=self._digest(),
        )
        self._parts.append({"PartNumber": number, "ETag": sent["ETag"]})
        self._spool.close()
        self._spool = _new_spool()
        self._size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)

    def _digest(self) -> str:
        return b64encode(self._md5.digest()).decode()


def _new_spool() -> tempfile.SpooledTemporaryFile[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)


@contextmanager
def storage_errors() -> Iterator[None]:
    """Maps what boto3 raises to the contract's answers: the store failing (5xx, timeouts,
    unreachable) is a retryable 503; anything else it refuses (no such bucket, a refused or
    missing key) is the deployment's configuration: 500 server_misconfigured, logged with
    the store's answer."""
    try:
        yield
    except ClientError as error:
        details = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = details.get("Code", "")
        if status >= 500 or code in _RETRYABLE_CODES:
            log.warning("audit-export: object storage failed: %s", error)
            raise storage_unavailable() from error
        raise misconfigured(
            f"Object storage refused the audit export ({code or status}): check the bucket "
            "and the credentials.",
            error,
        ) from error
    except (NoCredentialsError, PartialCredentialsError) as error:
        raise misconfigured("No usable AWS credentials for the audit export.", error) from error
    except ConnectionError as error:
        log.warning("audit-export: object storage unreachable: %s", error)
        raise storage_unavailable() from error
    except BotoCoreError as error:
        raise misconfigured("Object storage cannot be used as configured.", error) from error


def misconfigured(message: str, cause: BaseException) -> ServerMisconfigured:
    log.error("server_misconfigured: %s (%s)", message, cause)
    return ServerMisconfigured(message, f"{type(cause).__name__}: {cause}")


def storage_unavailable() -> Unavailable:
    return Unavailable("storage_unavailable", "Object storage is not answering; retry shortly.")


_storages: dict[tuple[str, str | None], ObjectStorage] = {}
_storages_lock = threading.Lock()


def object_storage() -> ObjectStorage | None:
    """This instance's client for AUDIT_EXPORT_BUCKET (None when unset), created once."""
    settings = config()
    if settings.audit_export_bucket is None:
        return None
    where = (settings.audit_export_bucket, settings.aws_endpoint_url_s3)
    with _storages_lock:
        if where not in _storages:
            with storage_errors():
                _storages[where] = ObjectStorage(*where)
        return _storages[where]


def forget_clients() -> None:
    """Drop the clients made so far (tests change credentials and endpoints)."""
    with _storages_lock:
        _storages.clear()
