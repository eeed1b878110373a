"""Configuration (issue 11): hosts, absolute URLs, production settings, security headers.

* Absolute URLs come from ``ONWARD_ISSUER`` only; a ``Host`` outside
  ``ONWARD_ALLOWED_HOSTS`` is a 400 problem, before any route (the partner read, served
  first, included); no trailing-slash redirects.
* ``ONWARD_ENVIRONMENT=production`` refuses to start without ``DATABASE_URL``,
  ``ONWARD_SIGNING_KEY_FILE`` and an https ``ONWARD_ISSUER``.
* ``/docs`` and ``/redoc`` cannot be framed; with an https issuer every response sends HSTS.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr, ValidationError

from app.db import Database
from app.main import create_app
from app.settings import Settings
from tests.api.consent_helpers import grant, make_leaver
from tests.conftest import problem
from tests.support import Actors

ROOT = Path(__file__).resolve().parents[2]
EVIL = "evil.example"

# The real data controller named in receipts (development placeholders are refused).
CONTROLLER: dict[str, Any] = {
    "controller_name": "Thames Valley Resettlement Partnership",
    "controller_contact": "dpo@tvrp.example.org",
    "policy_url": "https://tvrp.example.org/privacy",
}


def _with_host(host: str) -> dict[str, str]:
    return {"Host": host}


# --- hosts and absolute URLs ----------------------------------------------------------


async def test_a_host_outside_the_allowed_hosts_is_400(client: httpx.AsyncClient) -> None:
    for path in ("/v1/openreferral/", "/v1/offers", "/healthz", "/docs", "/no/such/path"):
        r = await client.get(path, headers=_with_host(EVIL))
        assert r.status_code == 400, (path, r.text)
        body = problem(r)
        assert body["type"] == "/problems/bad-request"
        assert EVIL not in r.text
        assert r.headers["cache-control"] == "no-store"


async def test_the_host_check_runs_before_the_partner_read(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read", kind="partner")
    await grant(client, leaver, partner.organisation_id, ["identity.given_name"])
    ok = await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)
    assert ok.status_code == 200
    r = await client.get(
        f"/v1/profiles/{leaver.id}", headers={**partner.headers, **_with_host(EVIL)}
    )
    assert r.status_code == 400
    problem(r)
    assert "given_name" not in r.text


@pytest.mark.parametrize("host", ["testserver", "TestServer:8443", "localhost:8000", "127.0.0.1"])
async def test_open_referral_openapi_url_comes_from_the_issuer(
    client: httpx.AsyncClient, host: str
) -> None:
    r = await client.get("/v1/openreferral/", headers=_with_host(host))
    assert r.status_code == 200, r.text
    assert r.json()["openapi_url"] == "http://testserver/openapi.json"


async def test_well_known_metadata_ignores_the_host(client: httpx.AsyncClient) -> None:
    r = await client.get("/.well-known/oauth-authorization-server", headers=_with_host("localhost"))
    assert r.status_code == 200
    assert "localhost" not in r.text
    assert r.json()["issuer"] == "http://testserver"


@pytest.mark.parametrize("path", ["/v1/offers/", "/v1/openreferral", "/v1/consent/fields/"])
async def test_no_trailing_slash_redirects(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 404, r.headers
    assert "location" not in r.headers
    problem(r)


def test_allowed_hosts_defaults_and_environment() -> None:
    dev = Settings(issuer="https://onward.example.org/")
    assert dev.host_names == {"onward.example.org", "127.0.0.1", "localhost"}
    prod = Settings(
        environment="production",
        issuer="https://onward.example.org",
        database_url=SecretStr("postgresql+asyncpg://u@db/onward"),
        signing_key_file=Path("/run/secrets/key.pem"),
        session_secret=SecretStr("s" * 40),
        **CONTROLLER,
    )
    assert prod.host_names == {"onward.example.org"}
    os.environ["ONWARD_ALLOWED_HOSTS"] = "api.example.org, Onward.example.org"
    try:
        listed = Settings()
    finally:
        del os.environ["ONWARD_ALLOWED_HOSTS"]
    assert listed.host_names == {"api.example.org", "onward.example.org"}


async def test_allowed_hosts_setting_is_what_is_answered(settings: Settings, db: Database) -> None:
    custom = settings.model_copy(update={"allowed_hosts": ["api.example.org"]})
    app = create_app(custom, database=db)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api.example.org"
        ) as c:
            assert (await c.get("/healthz")).status_code == 200
            assert (await c.get("/healthz", headers=_with_host("testserver"))).status_code == 400


# --- production refuses to start half-configured --------------------------------------


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("database_url", "DATABASE_URL must be set"),
        ("signing_key_file", "ONWARD_SIGNING_KEY_FILE must be set"),
        ("issuer", "ONWARD_ISSUER must be an https URL"),
        ("session_secret", "ONWARD_SESSION_SECRET must be set"),
        ("controller_name", "must name the real data controller"),
    ],
)
def test_production_settings_need_database_key_and_https(missing: str, message: str) -> None:
    complete: dict[str, Any] = {
        "environment": "production",
        "issuer": "https://onward.example.org",
        "database_url": SecretStr("postgresql+asyncpg://u@db/onward"),
        "signing_key_file": Path("/run/secrets/key.pem"),
        "session_secret": SecretStr("s" * 40),
        **CONTROLLER,
    }
    Settings(**complete)
    broken = {**complete, missing: "http://onward.example.org" if missing == "issuer" else None}
    if missing == "controller_name":
        broken.pop("controller_name")  # the development placeholder
    with pytest.raises(ValidationError, match=message):
        Settings(**broken)


def test_onward_refuses_to_start_in_production_without_them(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ONWARD_") and key != "DATABASE_URL"
    }
    env.update(ONWARD_ENVIRONMENT="production", ONWARD_DATA_DIR=str(tmp_path))
    for command in (["serve", "--port", "1"], ["migrate"]):
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", *command],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        for needed in (
            "DATABASE_URL must be set",
            "ONWARD_SIGNING_KEY_FILE must be set",
            "ONWARD_ISSUER must be an https URL",
            "ONWARD_SESSION_SECRET must be set",
            "must name the real data controller",
        ):
            assert needed in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


# --- security headers --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_docs_cannot_be_framed(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 200
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


async def test_no_hsts_over_plain_http(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert "strict-transport-security" not in r.headers


@pytest.fixture
async def https_app(settings: Settings, db: Database) -> AsyncIterator[FastAPI]:
    secure = settings.model_copy(update={"issuer": "https://testserver"})
    app = create_app(secure, database=db)
    async with app.router.lifespan_context(app):
        yield app


async def test_every_response_sends_hsts_when_the_issuer_is_https(
    https_app: FastAPI, actors: Actors
) -> None:
    transport = httpx.ASGITransport(app=https_app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        actors = Actors(https_app)
        leaver = await make_leaver(c, actors)
        partner = await actors.client("profiles:read", kind="partner")
        await grant(c, leaver, partner.organisation_id, ["identity.given_name"])
        responses = [
            await c.get("/healthz"),
            await c.get("/docs"),
            await c.get("/v1/offers"),
            await c.get("/no/such/path"),  # 404 from the framework
            await c.post("/v1/admin/organisations", json={}),  # 401
            await c.post("/v1/admin/organisations", content=b"x" * (1024 * 1024 + 1)),  # 413
            await c.get("/healthz", headers=_with_host(EVIL)),  # 400 from the host check
            # The partner read (a lean route, served first): the same headers.
            await c.get(f"/v1/profiles/{leaver.id}", headers=partner.headers),
            await c.get(f"/v1/profiles/{uuid.uuid4()}", headers=partner.headers),
            await c.get(f"/v1/profiles/{leaver.id}"),
        ]
    statuses = [r.status_code for r in responses]
    assert statuses == [200, 200, 200, 404, 401, 413, 400, 200, 404, 401], statuses
    for r in responses:
        assert r.headers["strict-transport-security"].startswith("max-age=31536000"), r.request
        assert r.headers["x-content-type-options"] == "nosniff", r.request


def _production_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ONWARD_") and key != "DATABASE_URL"
    }
    env.update(ONWARD_ENVIRONMENT="production", ONWARD_DATA_DIR=str(tmp_path), **settings)
    return env


def _onward(env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *command],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1"])
def test_production_never_guesses_the_issuer_from_the_address_served(
    tmp_path: Path, host: str
) -> None:
    """Serving on 0.0.0.0 once advertised http://127.0.0.1:<port>: in production the
    issuer must be set, whatever the rest of the configuration."""
    key = tmp_path / "key.pem"
    key.write_text("not read: the start is refused first")
    env = _production_env(
        tmp_path,
        DATABASE_URL="postgresql://onward@db.invalid/onward",
        ONWARD_SIGNING_KEY_FILE=str(key),
    )
    done = _onward(env, "serve", "--host", host, "--port", "8000")
    assert done.returncode == 2, done.stderr
    assert "onward: cannot start: ONWARD_ISSUER must be set in production" in done.stderr
    assert "127.0.0.1" not in done.stderr
    assert "Traceback" not in done.stderr


def test_production_refuses_a_plain_http_issuer_at_start(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("not read: the start is refused first")
    env = _production_env(
        tmp_path,
        DATABASE_URL="postgresql://onward@db.invalid/onward",
        ONWARD_SIGNING_KEY_FILE=str(key),
        ONWARD_ISSUER="http://onward.example.org",
    )
    done = _onward(env, "serve", "--host", "0.0.0.0")
    assert done.returncode == 2, done.stderr
    assert "ONWARD_ISSUER must be an https URL" in done.stderr
    assert "ONWARD_ISSUER must be set" not in done.stderr
    assert "Traceback" not in done.stderr


def test_production_refuses_placeholder_bootstrap_secrets_at_start(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("not read: the start is refused first")
    env = _production_env(
        tmp_path,
        DATABASE_URL="postgresql://onward@db.invalid/onward",
        ONWARD_SIGNING_KEY_FILE=str(key),
        ONWARD_ISSUER="https://onward.example.org",
        ONWARD_BOOTSTRAP_ADMIN_CLIENT_ID="ops",
        ONWARD_BOOTSTRAP_ADMIN_CLIENT_SECRET="changeme",
    )
    done = _onward(env, "serve", "--host", "0.0.0.0")
    assert done.returncode == 2, done.stderr
    assert "ONWARD_BOOTSTRAP_ADMIN_CLIENT_SECRET is a placeholder" in done.stderr
    assert "changeme" not in done.stderr
    assert "Traceback" not in done.stderr
