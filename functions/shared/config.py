"""Configuration, read from the environment once per instance."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

# The Supabase CLI's well-known local secret; `make run` uses it only when none is set.
LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"  # noqa: S105


@dataclass(frozen=True)
class Config:
    database_url: str | None
    supabase_url: str | None
    supabase_service_role_key: str | None
    jwt_secret: str | None
    jwks_url: str | None
    port: int
    auto_resume_interval_seconds: float
    database_timeout_seconds: float
    database_pool_size: int
    # The audit export (functions/audit_export.py); the AWS variables boto3 reads itself.
    audit_export_bucket: str | None
    audit_export_prefix: str
    aws_endpoint_url_s3: str | None
    audit_export_interval_seconds: float


@cache
def config() -> Config:
    env = os.environ
    return Config(
        database_url=env.get("DATABASE_URL") or None,
        supabase_url=env.get("SUPABASE_URL") or None,
        supabase_service_role_key=env.get("SUPABASE_SERVICE_ROLE_KEY") or None,
        jwt_secret=env.get("SUPABASE_JWT_SECRET") or None,
        jwks_url=env.get("SUPABASE_JWKS_URL") or None,
        port=int(env.get("PORT", "54321")),
        auto_resume_interval_seconds=float(env.get("AUTO_RESUME_INTERVAL_SECONDS", "15")),
        database_timeout_seconds=float(env.get("DATABASE_TIMEOUT_SECONDS", "5")),
        database_pool_size=int(env.get("DATABASE_POOL_SIZE", "10")),
        audit_export_bucket=env.get("AUDIT_EXPORT_BUCKET") or None,
        audit_export_prefix=env.get("AUDIT_EXPORT_PREFIX", "ai_pause_logs").strip("/"),
        aws_endpoint_url_s3=env.get("AWS_ENDPOINT_URL_S3") or None,
        audit_export_interval_seconds=float(env.get("AUDIT_EXPORT_INTERVAL_SECONDS", "60")),
    )
