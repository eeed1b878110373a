"""Settings, read once from the environment (prefix ``ONWARD_``, ``__`` for nested groups).

Nothing here is read at import time: call :func:`get_settings` (cached) inside the lifespan,
the CLI or a dependency.
"""

from __future__ import annotations

import json
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    IPvAnyNetwork,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_CONTROLLER_NAME = "Onward (development placeholder controller)"
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "password", "admin"})


class DatabaseSettings(BaseModel):
    """Connection pool tuning (``ONWARD_DB__POOL_SIZE`` …)."""

    pool_size: int = Field(default=10, ge=1, le=200)
    max_overflow: int = Field(default=10, ge=0, le=200)
    echo: bool = False
    # ``ONWARD_DB__TIMEOUT_SECONDS``: the longest a request waits on the database, for each
    # of a pool connection, a new connection, a lock and a statement (API.md §0 "faults").
    # Past it the request answers 503 with Retry-After instead of queueing behind a stuck
    # or unreachable database.
    timeout_seconds: float = Field(default=5.0, gt=0, le=600)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ONWARD_",
        env_nested_delimiter="__",
        extra="ignore",
        populate_by_name=True,
    )

    environment: Literal["development", "test", "production"] = "development"
    # Unset: an embedded PostgreSQL (the `pgserver` wheel) is started under data_dir.
    database_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "ONWARD_DATABASE_URL")
    )
    data_dir: Path = Path(".onward")
    db: DatabaseSettings = DatabaseSettings()

    # The one source of every absolute URL the API writes (never the request's Host).
    issuer: str = "http://127.0.0.1:8000"
    # Host names the API answers for (comma-separated); unset: the issuer's host, plus
    # 127.0.0.1 and localhost outside production. Any other Host header → 400.
    allowed_hosts: Annotated[list[str] | None, NoDecode] = None
    audience: str | None = None  # defaults to the issuer
    signing_key_file: Path | None = None
    # Retired keys (PEM, public or private) that still verify tokens and receipts.
    previous_key_files: list[Path] = []
    token_ttl_seconds: int = Field(default=600, ge=30, le=86_400)

    bootstrap_admin_client_id: str | None = None
    bootstrap_admin_client_secret: SecretStr | None = None

    max_body_bytes: int = 1024 * 1024
    # The data controller named in every receipt (API.md §3, §6; Kantara's consent
    # receipt requires one). The defaults are development placeholders, refused in
    # production.
    controller_name: str = DEV_CONTROLLER_NAME
    controller_contact: str = "privacy@onward.invalid"
    policy_url: str = "https://onward.invalid/privacy"
    # Periodic background work in this process (the expiry sweep, webhook delivery). Off
    # in tests that share one connection per test; every replica may run it.
    background_tasks: bool = True
    # FastAPI's built-in OpenTelemetry instrumentation (off: it costs ~5 % per request).
    telemetry: bool = False

    # Let webhooks reach `http` URLs and private, loopback or link-local addresses
    # (development and tests only; refused in production). See app/webhooks/urls.py.
    webhooks_allow_private: bool = False

    # Sign-in throttling (API.md §0 "rate limits"). Unauthenticated sign-in attempts (the
    # PIN grant, the sign-in page) allowed per client address in any 60 seconds.
    sign_in_per_minute: int = Field(default=20, ge=1, le=100_000)
    # Proxies whose X-Forwarded-For is believed: addresses or CIDRs, comma-separated
    # (`10.0.0.0/8, 192.0.2.7`) or a JSON list. See app/auth/client_address.py.
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = []

    # The leaver's pages (API.md §8): the key that signs the session cookie. Unset outside
    # production: one is generated once into data_dir (like the development signing key).
    session_secret: SecretStr | None = None
    # A page session ends after this many minutes without a request.
    session_idle_minutes: int = Field(default=15, ge=1, le=24 * 60)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @property
    def trusted_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return tuple(self.trusted_proxies)

    @property
    def token_audience(self) -> str:
        return self.audience or self.issuer

    @property
    def issuer_url(self) -> str:
        """The issuer without a trailing slash, to prefix absolute paths with."""
        return self.issuer.rstrip("/")

    @property
    def https(self) -> bool:
        """Whether the API is served over HTTPS (then every response sends HSTS)."""
        return urlsplit(self.issuer).scheme == "https"

    @property
    def host_names(self) -> frozenset[str]:
        """The Host names answered for, lower-case and without ports."""
        if self.allowed_hosts is not None:
            return frozenset(h.lower() for h in self.allowed_hosts)
        names = {(urlsplit(self.issuer).hostname or "").lower()}
        if self.environment != "production":
            names |= {"127.0.0.1", "localhost"}
        return frozenset(names - {""})

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [h.strip() for h in value.split(",") if h.strip()]
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer_is_a_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("ONWARD_ISSUER must be an absolute http(s) URL")
        if parts.query or parts.fragment:
            raise ValueError("ONWARD_ISSUER must not have a query or a fragment")
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        secret = self.bootstrap_admin_client_secret
        if (
            self.environment == "production"
            and secret is not None
            and (
                secret.get_secret_value().lower() in PLACEHOLDER_SECRETS
                or len(secret.get_secret_value()) < 24
            )
        ):
            raise ValueError(
                "ONWARD_BOOTSTRAP_ADMIN_CLIENT_SECRET is a placeholder "
                "or shorter than 24 characters"
            )
        if self.environment == "production":
            missing = [
                reason
                for reason, wrong in (
                    ("DATABASE_URL must be set", self.database_url is None),
                    ("ONWARD_SIGNING_KEY_FILE must be set", self.signing_key_file is None),
                    ("ONWARD_ISSUER must be an https URL", not self.https),
                    (
                        "ONWARD_CONTROLLER_NAME, ONWARD_CONTROLLER_CONTACT and "
                        "ONWARD_POLICY_URL must name the real data controller",
                        self.controller_name == DEV_CONTROLLER_NAME
                        or self.controller_contact.endswith(".invalid")
                        or ".invalid" in self.policy_url,
                    ),
                    (
                        "ONWARD_SESSION_SECRET must be set, not a placeholder, "
                        "and at least 32 characters",
                        self.session_secret is None
                        or self.session_secret.get_secret_value().lower() in PLACEHOLDER_SECRETS
                        or len(self.session_secret.get_secret_value()) < 32,
                    ),
                    (
                        "ONWARD_WEBHOOKS_ALLOW_PRIVATE must not be set",
                        self.webhooks_allow_private,
                    ),
                )
                if wrong
            ]
            if missing:
                raise ValueError(
                    "In production (ONWARD_ENVIRONMENT=production): " + "; ".join(missing)
                )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
