"""Configuration, read from the environment once per instance and validated as a whole:
a bad value stops the process at start with a message naming the variable."""

from __future__ import annotations

import re
from functools import cache
from typing import Annotated, Any

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The Supabase CLI's well-known local secret; `make run` uses it only when none is set.
LOCAL_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"  # noqa: S105
SECRET_KEY_PREFIX = "sb_secret_"  # noqa: S105  (Supabase's opaque secret API keys)
# A Supabase project's own JWKS URL, whose Auth issues tokens with iss <project URL>/auth/v1.
_SUPABASE_JWKS_URL = re.compile(
    r"^(https://[a-z0-9]+\.supabase\.co/auth/v1)/\.well-known/jwks\.json$"
)


class ConfigurationError(Exception):
    """A variable with a value the functions cannot run with; the message names it."""


def _env(name: str, **kwargs: Any) -> Any:
    return Field(validation_alias=AliasChoices(name), **kwargs)


class Config(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=True)

    database_url: str | None = _env("DATABASE_URL", default=None, repr=False)
    # Migrations (and anything needing a session) when DATABASE_URL is a transaction pooler.
    database_direct_url: str | None = _env("DATABASE_DIRECT_URL", default=None, repr=False)
    supabase_url: str | None = _env("SUPABASE_URL", default=None)
    supabase_service_role_key: str | None = _env(
        "SUPABASE_SERVICE_ROLE_KEY", default=None, repr=False
    )
    jwt_secret: str | None = _env("SUPABASE_JWT_SECRET", default=None, repr=False)
    jwks_url: str | None = _env("SUPABASE_JWKS_URL", default=None)
    # The `iss` every attendant's token must carry; see auth_issuer.
    jwt_issuer: str | None = _env("SUPABASE_JWT_ISSUER", default=None)
    # Supabase's opaque secret API keys (sb_secret_…), comma-separated: several at once
    # let a key be rotated without downtime.
    secret_keys: Annotated[tuple[str, ...], NoDecode] = _env(
        "SUPABASE_SECRET_KEYS", default=(), repr=False
    )
    port: int = _env("PORT", default=54321, ge=1, le=65535)
    auto_resume_interval_seconds: float = _env("AUTO_RESUME_INTERVAL_SECONDS", default=15, gt=0)
    database_timeout_seconds: float = _env("DATABASE_TIMEOUT_SECONDS", default=5, gt=0, le=600)
    database_pool_size: int = _env("DATABASE_POOL_SIZE", default=10, ge=1, le=1000)
    # Heavy reads (reports, log listings, the audit export): their own connections, beside
    # DATABASE_POOL_SIZE's, and their own statement timeout (docs/reliability.md, Heavy reads).
    heavy_read_pool_size: int = _env("HEAVY_READ_POOL_SIZE", default=2, ge=1, le=100)
    heavy_read_timeout_seconds: float = _env(
        "HEAVY_READ_TIMEOUT_SECONDS", default=30, gt=0, le=3600, allow_inf_nan=False
    )
    # Load the demo workspace into an empty database at start (make run); the embedded
    # database always gets it.
    seed_demo: bool = _env("TAKEOVER_SEED_DEMO", default=False)
    # The audit export (functions/audit_export.py); the AWS variables boto3 reads itself.
    audit_export_bucket: str | None = _env("AUDIT_EXPORT_BUCKET", default=None)
    audit_export_prefix: str = _env("AUDIT_EXPORT_PREFIX", default="ai_pause_logs")
    aws_endpoint_url_s3: str | None = _env("AWS_ENDPOINT_URL_S3", default=None)
    audit_export_interval_seconds: float = _env(
        "AUDIT_EXPORT_INTERVAL_SECONDS", default=60, gt=0, allow_inf_nan=False
    )
    # Webhooks: private and loopback targets (and http://) only where this is on (make run,
    # tests); the delivery timeout; how often make run dispatches; the expiry notice's lead.
    webhooks_allow_private_urls: bool = _env("WEBHOOKS_ALLOW_PRIVATE_URLS", default=False)
    webhook_timeout_seconds: float = _env(
        "WEBHOOK_TIMEOUT_SECONDS", default=10, gt=0, allow_inf_nan=False
    )
    webhook_dispatch_interval_seconds: float = _env(
        "WEBHOOK_DISPATCH_INTERVAL_SECONDS", default=2, gt=0, allow_inf_nan=False
    )
    expiry_notice_minutes: float = _env(
        "EXPIRY_NOTICE_MINUTES", default=5, gt=0, allow_inf_nan=False
    )
    # How long the gate keeps a refused message's draft; the sweep deletes older ones.
    draft_retention_hours: int = _env("DRAFT_RETENTION_HOURS", default=24, ge=1, le=8760)

    @field_validator(
        "database_url",
        "database_direct_url",
        "supabase_url",
        "supabase_service_role_key",
        "jwt_secret",
        "jwks_url",
        "jwt_issuer",
        "audit_export_bucket",
        "aws_endpoint_url_s3",
        mode="before",
    )
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("seed_demo", "webhooks_allow_private_urls", mode="before")
    @classmethod
    def _off_when_empty(cls, value: object) -> object:
        return False if value == "" else value

    @field_validator("audit_export_prefix")
    @classmethod
    def _without_slashes(cls, value: str) -> str:
        return value.strip("/")

    @field_validator("database_url", "database_direct_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value and "://" in value and not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("must be a postgresql:// URL (or a libpq key=value string)")
        return value

    @field_validator("supabase_url", "jwks_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must be an https:// URL")
        return value

    @property
    def verifies_credentials(self) -> bool:
        """Whether any credential can be verified: a JWT secret, a JWKS or secret keys."""
        return bool(self.jwt_secret or self.jwks_url or self.secret_keys)

    @property
    def auth_issuer(self) -> str | None:
        """The issuer of the project's user tokens, when known: SUPABASE_JWT_ISSUER, else
        the Auth of a `https://<ref>.supabase.co` JWKS URL (a custom domain keeps that
        issuer: set it explicitly there). Unknown: `iss` is not checked."""
        if self.jwt_issuer:
            return self.jwt_issuer
        matched = _SUPABASE_JWKS_URL.match(self.jwks_url or "")
        return matched.group(1) if matched else None

    @field_validator("secret_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            keys = tuple(key.strip() for key in value.split(",") if key.strip())
            for key in keys:
                if not key.startswith(SECRET_KEY_PREFIX):
                    raise ValueError(
                        f"each key must be a secret key ({SECRET_KEY_PREFIX}…), not a"
                        " publishable key or a JWT"
                    )
            return keys
        return value


@cache
def config() -> Config:
    """This instance's configuration; ConfigurationError names each bad variable."""
    try:
        return Config()
    except ValidationError as error:
        raise ConfigurationError(_describe(error)) from None


def config_or_exit() -> Config:
    """config() at a process's start: a bad variable stops it, with the message alone."""
    try:
        return config()
    except ConfigurationError as error:
        raise SystemExit(str(error)) from None


def _describe(error: ValidationError) -> str:
    problems = []
    for issue in error.errors(include_url=False):
        variable = str(issue["loc"][0]) if issue["loc"] else "?"
        # Values of variables that may hold a secret (keys, passwords in URLs) stay out.
        shown = "" if variable in _SECRET else f"={issue.get('input')!r}"
        problems.append(f"{variable}{shown}: {issue['msg']}")
    return "Bad configuration: " + "; ".join(problems)


_SECRET = frozenset(
    {
        "DATABASE_URL",
        "DATABASE_DIRECT_URL",
        "SUPABASE_SERVICE_ROLE_KEY",
        "SUPABASE_JWT_SECRET",
        "SUPABASE_SECRET_KEYS",
    }
)
