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
    # Webhooks: private and loopback targets (and http://) only where this is on (make run,
    # tests); the delivery timeout; how often make run dispatches; the expiry notice's lead.
    webhooks_allow_private_urls: bool
    webhook_timeout_seconds: float
    webhook_dispatch_interval_seconds: float
    expiry_notice_minutes: float


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
        webhooks_allow_private_urls=_flag(env, "WEBHOOKS_ALLOW_PRIVATE_URLS"),
        webhook_timeout_seconds=_positive(env, "WEBHOOK_TIMEOUT_SECONDS", "10"),
        webhook_dispatch_interval_seconds=_positive(env, "WEBHOOK_DISPATCH_INTERVAL_SECONDS", "2"),
        expiry_notice_minutes=_positive(env, "EXPIRY_NOTICE_MINUTES", "5"),
    )


def _flag(env: os._Environ[str], name: str) -> bool:
    value = env.get(name, "0").strip().lower()
    if value not in {"0", "1", "true", "false", ""}:
        raise ValueError(f"{name} must be 0 or 1, not {value!r}")
    return value in {"1", "true"}


def _positive(env: os._Environ[str], name: str, default: str) -> float:
    raw = env.get(name, default)
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a positive number of seconds or minutes, not {raw!r}")
    return value
