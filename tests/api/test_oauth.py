"""POST /oauth/token, /oauth/revoke and /oauth/introspect (API.md §1)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI

from app.auth.principal import LEAVER_CLIENT_ID
from app.auth.tokens import TokenService
from app.db import Database
from tests.api.identity_helpers import (
    LEAVER_PIN,
    basic,
    bearer,
    client_from,
    client_token,
    lock_state,
    make_profile,
    pin_login,
    set_lock_state,
)
from tests.support import Actor, Actors

PIN = "482916"
WRONG = "583027"
PROTECTED = "/v1/admin/organisations"


def oauth_error(r: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["pragma"] == "no-cache"
    body: dict[str, Any] = r.json()
    assert body["error"] == error
    assert set(body) == {"error", "error_description"}
    return body


def header_of(token: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    return result


# --- client credentials -------------------------------------------------------------------


async def test_client_credentials_with_basic(
    client: httpx.AsyncClient, actors: Actors, app: FastAPI
) -> None:
    partner = await actors.client("profiles:read", "referrals:read")
    r = await client_token(client, partner.client_id, partner.client_secret)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["pragma"] == "no-cache"
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["scope"] == "profiles:read referrals:read"
    tokens: TokenService = app.state.tokens
    assert header_of(body["access_token"]) == {
        "alg": "ES256",
        "typ": "at+jwt",
        "kid": tokens.keys.current.kid,
    }
    claims = tokens.verify(body["access_token"])
    assert claims["iss"] == claims["aud"] == "http://testserver"
    assert claims["sub"] == claims["client_id"] == partner.client_id
    assert claims["org"] == str(partner.organisation_id)
    assert claims["exp"] - claims["iat"] == 600
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) >= 22


async def test_client_credentials_with_form_fields(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    kiosk = await actors.client("profiles:create", kind="establishment")
    r = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": kiosk.client_id,
            "client_secret": kiosk.client_secret,
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "profiles:create"


async def test_basic_credentials_form_encoded_per_rfc6749(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    actor = await actors.client("offers:write", kind="provider")
    raw = f"{quote(actor.client_id, safe='')}:{quote(actor.client_secret, safe='')}"
    auth = {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}
    r = await client.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=auth)
    assert r.status_code == 200


async def test_the_token_works_on_a_protected_endpoint(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    admin = await actors.client("admin", kind="operator")
    token = (await client_token(client, admin.client_id, admin.client_secret)).json()
    assert (await client.get(PROTECTED, headers=bearer(token["access_token"]))).status_code == 200


async def test_scope_subset(client: httpx.AsyncClient, actors: Actors) -> None:
    actor = await actors.client("referrals:read", "referrals:write")
    r = await client_token(client, actor.client_id, actor.client_secret, scope="referrals:write")
    assert r.json()["scope"] == "referrals:write"


@pytest.mark.parametrize("scope", ["admin", "self", "referrals:read nope", "profiles:read self"])
async def test_scope_beyond_the_client_is_invalid_scope(
    client: httpx.AsyncClient, actors: Actors, scope: str
) -> None:
    actor = await actors.client("profiles:read", "referrals:read")
    r = await client_token(client, actor.client_id, actor.client_secret, scope=scope)
    oauth_error(r, 400, "invalid_scope")


async def test_wrong_secret_is_invalid_client_with_basic_challenge(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    actor = await actors.client("profiles:read")
    r = await client_token(client, actor.client_id, actor.client_secret + "x")
    oauth_error(r, 401, "invalid_client")
    assert r.headers["www-authenticate"] == 'Basic realm="onward"'
    unknown = await client_token(client, "onw_nobody", actor.client_secret)
    assert unknown.json() == r.json()
    form = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": actor.client_id,
            "client_secret": "wrong",
        },
    )
    oauth_error(form, 401, "invalid_client")


async def test_disabled_client_cannot_get_a_token(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    admin = await actors.client("admin", kind="operator")
    actor = await actors.client("profiles:read")
    r = await client.post(f"/v1/admin/clients/{actor.client_id}/disable", headers=admin.headers)
    assert r.status_code == 200
    oauth_error(
        await client_token(client, actor.client_id, actor.client_secret), 401, "invalid_client"
    )


async def test_both_client_authentication_methods_is_invalid_request(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    actor = await actors.client("profiles:read")
    r = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": actor.client_id,
            "client_secret": actor.client_secret,
        },
        headers=basic(actor.client_id, actor.client_secret),
    )
    oauth_error(r, 400, "invalid_request")


async def test_no_client_authentication_is_invalid_client(client: httpx.AsyncClient) -> None:
    r = await client.post("/oauth/token", data={"grant_type": "client_credentials"})
    oauth_error(r, 401, "invalid_client")
    r = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic %%%not-base64"},
    )
    oauth_error(r, 401, "invalid_client")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"json": {"grant_type": "client_credentials"}}, "invalid_request"),
        ({"data": {}}, "invalid_request"),
        ({"data": {"scope": "admin"}}, "invalid_request"),
        (
            {
                "content": b"grant_type=client_credentials&grant_type=client_credentials",
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
            "invalid_request",
        ),
        (
            {
                "content": b"\xff\xfe",
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
            "invalid_request",
        ),
        ({"data": {"grant_type": "password"}}, "unsupported_grant_type"),
        (
            {"data": {"grant_type": "urn:ietf:params:oauth:grant-type:device_code"}},
            "unsupported_grant_type",
        ),
    ],
)
async def test_malformed_requests(
    client: httpx.AsyncClient, kwargs: dict[str, Any], error: str
) -> None:
    oauth_error(await client.post("/oauth/token", **kwargs), 400, error)


# --- the leaver's PIN ---------------------------------------------------------------------


@pytest.fixture
async def leaver(app: FastAPI) -> tuple[uuid.UUID, str]:
    return await make_profile(app.state.db, PIN)


async def test_pin_login_issues_the_leavers_token(
    client: httpx.AsyncClient, app: FastAPI, leaver: tuple[uuid.UUID, str]
) -> None:
    profile_id, reference = leaver
    # What a person might type: lower case, spaces, no dashes.
    typed = reference.lower().replace("-", " ")
    r = await pin_login(client, typed, PIN)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["scope"] == "self"
    assert body["token_type"] == "Bearer"
    claims = app.state.tokens.verify(body["access_token"])
    assert claims["sub"] == str(profile_id)
    assert claims["client_id"] == LEAVER_CLIENT_ID
    assert claims["scope"] == "self"
    assert "org" not in claims


async def test_wrong_pin_and_unknown_reference_get_the_same_answer(
    client: httpx.AsyncClient, leaver: tuple[uuid.UUID, str]
) -> None:
    _, reference = leaver
    wrong_pin = await pin_login(client, reference, WRONG)
    unknown = await pin_login(client, "ONW-0000-0000", PIN)
    not_a_reference = await pin_login(client, "hello", PIN)
    bad_pin = await pin_login(client, reference, "12ab")
    for r in (wrong_pin, unknown, not_a_reference, bad_pin):
        oauth_error(r, 400, "invalid_grant")
        assert r.json() == wrong_pin.json()
        assert PIN not in r.text
        assert WRONG not in r.text


async def test_missing_reference_or_pin_is_invalid_request(client: httpx.AsyncClient) -> None:
    r = await client.post("/oauth/token", data={"grant_type": LEAVER_PIN, "pin": PIN})
    oauth_error(r, 400, "invalid_request")
    r = await client.post("/oauth/token", data={"grant_type": LEAVER_PIN, "reference": "ONW-1"})
    oauth_error(r, 400, "invalid_request")


async def test_pin_grant_with_wrong_client_credentials_is_invalid_client(
    client: httpx.AsyncClient, actors: Actors, leaver: tuple[uuid.UUID, str]
) -> None:
    kiosk = await actors.client("profiles:create", kind="establishment")
    _, reference = leaver
    form = {"grant_type": LEAVER_PIN, "reference": reference, "pin": PIN}
    ok = await client.post(
        "/oauth/token", data=form, headers=basic(kiosk.client_id, kiosk.client_secret)
    )
    assert ok.status_code == 200
    bad = await client.post("/oauth/token", data=form, headers=basic(kiosk.client_id, "nope"))
    oauth_error(bad, 401, "invalid_client")


async def test_four_failures_then_success_resets_the_counter(
    client: httpx.AsyncClient, app: FastAPI, leaver: tuple[uuid.UUID, str]
) -> None:
    _, reference = leaver
    for _ in range(4):
        oauth_error(await pin_login(client, reference, WRONG), 400, "invalid_grant")
    assert (await lock_state(app.state.db, reference))[0] == 4
    assert (await pin_login(client, reference, PIN)).status_code == 200
    assert await lock_state(app.state.db, reference) == (0, None)
    # Four more wrong ones do not lock: the count started again.
    for _ in range(4):
        oauth_error(await pin_login(client, reference, WRONG), 400, "invalid_grant")
    assert (await pin_login(client, reference, PIN)).status_code == 200


async def test_five_failures_lock_for_fifteen_minutes_even_the_right_pin(
    client: httpx.AsyncClient, app: FastAPI, leaver: tuple[uuid.UUID, str]
) -> None:
    _, reference = leaver
    for _ in range(5):
        oauth_error(await pin_login(client, reference, WRONG), 400, "invalid_grant")
    r = await pin_login(client, reference, PIN)
    body = oauth_error(r, 429, "invalid_grant")
    assert PIN not in r.text
    assert "locked" in body["error_description"] or "Too many" in body["error_description"]
    retry_after = int(r.headers["retry-after"])
    assert 890 <= retry_after <= 900
    # Still locked for a wrong PIN, with the same answer.
    assert (await pin_login(client, reference, WRONG)).status_code == 429
    attempts, locked_until = await lock_state(app.state.db, reference)
    assert attempts == 5
    assert locked_until > datetime.now(UTC) + timedelta(minutes=14)
    # Once the lock has run out, the right PIN works and the count starts again.
    await set_lock_state(
        app.state.db, reference, attempts=5, locked_until=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert (await pin_login(client, reference, PIN)).status_code == 200
    assert await lock_state(app.state.db, reference) == (0, None)


async def test_a_lock_that_ran_out_gives_five_fresh_attempts(
    client: httpx.AsyncClient, app: FastAPI, leaver: tuple[uuid.UUID, str]
) -> None:
    _, reference = leaver
    await set_lock_state(
        app.state.db, reference, attempts=5, locked_until=datetime.now(UTC) - timedelta(seconds=1)
    )
    oauth_error(await pin_login(client, reference, WRONG), 400, "invalid_grant")
    assert (await lock_state(app.state.db, reference)) == (1, None)


@pytest.mark.committed
async def test_32_parallel_wrong_pins_evaluate_at_most_five(committed_app: FastAPI) -> None:
    """However the attempts race (each from its own address, so no per-address limit
    interferes), at most 5 PINs are compared: the rest are locked out (429) or, when the
    PIN pool is full, turned away before being counted (503)."""
    _, reference = await make_profile(committed_app.state.db, PIN)

    # Committed counts outlive the test: addresses (each its own /64) no other test uses.
    prefix = f"2001:db8:{uuid.uuid4().hex[:4]}"

    async def attempt(i: int) -> httpx.Response:
        async with client_from(committed_app, f"{prefix}:{i:x}::1") as c:
            return await pin_login(c, reference, WRONG)

    answers = await asyncio.gather(*(attempt(i) for i in range(32)))
    statuses = [r.status_code for r in answers]
    assert statuses.count(400) <= 5, statuses
    assert statuses.count(400) + statuses.count(429) + statuses.count(503) == 32, statuses
    for r in answers:
        if r.status_code == 429:
            oauth_error(r, 429, "invalid_grant")
            assert int(r.headers["retry-after"]) >= 1
        elif r.status_code == 503:
            oauth_error(r, 503, "temporarily_unavailable")
    attempts, locked_until = await lock_state(committed_app.state.db, reference)
    assert attempts == statuses.count(400)
    assert (locked_until is not None) == (attempts == 5)
    if attempts == 5:
        async with client_from(committed_app, f"{prefix}:ffff::1") as c:
            r = await pin_login(c, reference, PIN)
        assert r.status_code == 429
        assert 1 <= int(r.headers["retry-after"]) <= 900


async def test_pin_checks_run_off_the_event_loop(
    client: httpx.AsyncClient, leaver: tuple[uuid.UUID, str]
) -> None:
    """While a PIN is being checked the loop keeps serving: a ticker keeps ticking."""
    _, reference = leaver
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    await pin_login(client, reference, WRONG)
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    assert ticks >= max(3, int(elapsed / 0.001 * 0.2)), (ticks, elapsed)


# --- revocation and introspection ---------------------------------------------------------


async def _fresh_token(client: httpx.AsyncClient, actor: Actor) -> str:
    r = await client_token(client, actor.client_id, actor.client_secret)
    token: str = r.json()["access_token"]
    return token


async def test_revoked_token_is_refused_from_the_next_request(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    admin = await actors.client("admin", kind="operator")
    token = await _fresh_token(client, admin)
    assert (await client.get(PROTECTED, headers=bearer(token))).status_code == 200
    r = await client.post(
        "/oauth/revoke", data={"token": token}, headers=basic(admin.client_id, admin.client_secret)
    )
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    refused = await client.get(PROTECTED, headers=bearer(token))
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    # Idempotent; other tokens of the client still work.
    again = await client.post(
        "/oauth/revoke", data={"token": token}, headers=basic(admin.client_id, admin.client_secret)
    )
    assert again.status_code == 200
    assert (await client.get(PROTECTED, headers=admin.headers)).status_code == 200


async def test_revoking_anything_else_is_200_and_changes_nothing(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    admin = await actors.client("admin", kind="operator")
    other = await actors.client("profiles:read")
    auth = basic(other.client_id, other.client_secret)
    for token in ("garbage", admin.token, admin.token + "x"):
        r = await client.post("/oauth/revoke", data={"token": token}, headers=auth)
        assert r.status_code == 200
        assert r.json() == {}
    # Another client's token is not revoked by someone else.
    assert (await client.get(PROTECTED, headers=admin.headers)).status_code == 200


async def test_revoke_needs_client_authentication(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    admin = await actors.client("admin", kind="operator")
    oauth_error(
        await client.post("/oauth/revoke", data={"token": admin.token}), 401, "invalid_client"
    )
    r = await client.post(
        "/oauth/revoke", data={"token": admin.token}, headers=basic(admin.client_id, "wrong")
    )
    oauth_error(r, 401, "invalid_client")
    r = await client.post(
        "/oauth/revoke", data={}, headers=basic(admin.client_id, admin.client_secret)
    )
    oauth_error(r, 400, "invalid_request")
    assert (await client.get(PROTECTED, headers=admin.headers)).status_code == 200


async def test_leaver_signs_out_as_a_public_client(
    client: httpx.AsyncClient, app: FastAPI, leaver: tuple[uuid.UUID, str], actors: Actors
) -> None:
    _, reference = leaver
    token = (await pin_login(client, reference, PIN)).json()["access_token"]
    admin = await actors.client("admin", kind="operator")
    # The leaver's public client cannot revoke a client's token.
    await client.post("/oauth/revoke", data={"token": admin.token, "client_id": LEAVER_CLIENT_ID})
    assert (await client.get(PROTECTED, headers=admin.headers)).status_code == 200
    introspect = {"token": token}
    auth = basic(admin.client_id, admin.client_secret)
    assert (await client.post("/oauth/introspect", data=introspect, headers=auth)).json()["active"]
    r = await client.post("/oauth/revoke", data={"token": token, "client_id": LEAVER_CLIENT_ID})
    assert r.status_code == 200
    assert (await client.post("/oauth/introspect", data=introspect, headers=auth)).json() == {
        "active": False
    }


async def test_introspection(client: httpx.AsyncClient, app: FastAPI, actors: Actors) -> None:
    partner = await actors.client("profiles:read")
    other = await actors.client("profiles:read")
    token = await _fresh_token(client, partner)
    own = basic(partner.client_id, partner.client_secret)
    r = await client.post("/oauth/introspect", data={"token": token}, headers=own)
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    claims = app.state.tokens.verify(token)
    assert body == {
        "active": True,
        "token_type": "Bearer",
        "scope": "profiles:read",
        "client_id": partner.client_id,
        "sub": partner.client_id,
        "exp": claims["exp"],
        "iat": claims["iat"],
        "iss": "http://testserver",
        "aud": "http://testserver",
        "jti": claims["jti"],
        "org": str(partner.organisation_id),
    }
    inactive = {"active": False}
    # Another client's token is not its business; garbage and expired tokens are inactive.
    theirs = basic(other.client_id, other.client_secret)
    r = await client.post("/oauth/introspect", data={"token": token}, headers=theirs)
    assert r.json() == inactive
    expired = app.state.tokens.issue(
        subject=partner.client_id,
        client_id=partner.client_id,
        scopes=["profiles:read"],
        organisation_id=str(partner.organisation_id),
        now=int(time.time()) - 700,
    ).token
    for candidate in ("garbage", expired):
        r = await client.post("/oauth/introspect", data={"token": candidate}, headers=own)
        assert r.json() == inactive
    # Revoked: inactive.
    await client.post("/oauth/revoke", data={"token": token}, headers=own)
    r = await client.post("/oauth/introspect", data={"token": token}, headers=own)
    assert r.json() == inactive
    # Without client authentication: invalid_client.
    oauth_error(
        await client.post("/oauth/introspect", data={"token": token}), 401, "invalid_client"
    )


async def test_admin_introspects_any_token_and_sees_disabled_clients_inactive(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    admin = await actors.client("admin", kind="operator")
    partner = await actors.client("profiles:read")
    auth = basic(admin.client_id, admin.client_secret)
    r = await client.post("/oauth/introspect", data={"token": partner.token}, headers=auth)
    assert r.json()["active"] is True
    assert r.json()["client_id"] == partner.client_id
    await client.post(f"/v1/admin/clients/{partner.client_id}/disable", headers=admin.headers)
    r = await client.post("/oauth/introspect", data={"token": partner.token}, headers=auth)
    assert r.json() == {"active": False}


async def test_revoked_rows_past_expiry_are_forgotten(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, db: Database
) -> None:
    from sqlalchemy import func, select

    from app.models import RevokedToken

    admin = await actors.client("admin", kind="operator")
    async with db.sessionmaker() as session:
        session.add(
            RevokedToken(
                jti="old-" + uuid.uuid4().hex, expires_at=datetime.now(UTC) - timedelta(hours=1)
            )
        )
        await session.commit()
    token = await _fresh_token(client, admin)
    await client.post(
        "/oauth/revoke", data={"token": token}, headers=basic(admin.client_id, admin.client_secret)
    )
    async with db.sessionmaker() as session:
        stale = await session.scalar(
            select(func.count())
            .select_from(RevokedToken)
            .where(RevokedToken.expires_at < datetime.now(UTC) - timedelta(minutes=2))
        )
        live = await session.scalar(select(func.count()).select_from(RevokedToken))
    assert stale == 0
    assert live == 1
