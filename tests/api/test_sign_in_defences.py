"""Sign-in defences (API.md §0 "rate limits", §1): enumeration-proof lock-out, the
per-address limit, the bounded PIN pool, and the expired-token answer."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

import app.auth.pins as pins_module
from app.auth.principal import LEAVER_CLIENT_ID
from app.auth.reference import new_reference
from app.db import Database
from app.main import create_app
from app.settings import Settings
from tests.api.identity_helpers import (
    basic,
    bearer,
    client_from,
    lock_state,
    make_profile,
    pin_login,
)
from tests.support import Actors

PIN = "482916"
WRONG = "583027"


def oauth_error(r: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["cache-control"] == "no-store"
    body: dict[str, Any] = r.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error
    return body


async def running(settings: Settings, database: Database) -> AsyncIterator[FastAPI]:
    app = create_app(settings, database=database)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def strict_app(settings: Settings, db: Database) -> AsyncIterator[FastAPI]:
    """Three sign-in attempts a minute per address; 10.0.0.0/8 is our proxy."""
    tuned = settings.model_copy(
        update={"sign_in_per_minute": 3, "trusted_proxies": [ip_network("10.0.0.0/8")]}
    )
    async for app in running(tuned, db):
        yield app


# --- 1. the lock-out is kept for any well-formed reference ---------------------------------


async def test_an_unknown_reference_answers_exactly_like_an_issued_one(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    _, issued = await make_profile(app.state.db, PIN)
    unknown = new_reference()
    transcripts: dict[str, list[tuple[int, dict[str, Any], str | None]]] = {}
    for reference in (issued, unknown):
        answers = [await pin_login(client, reference, WRONG) for _ in range(7)]
        transcripts[reference] = [
            (r.status_code, r.json(), "retry" if "retry-after" in r.headers else None)
            for r in answers
        ]
        for r in answers[:5]:
            oauth_error(r, 400, "invalid_grant")
        for r in answers[5:]:
            oauth_error(r, 429, "invalid_grant")
            assert 890 <= int(r.headers["retry-after"]) <= 900
        # The lock holds for every PIN (for the issued reference, even the right one).
        oauth_error(await pin_login(client, reference, PIN), 429, "invalid_grant")
    assert transcripts[issued] == transcripts[unknown]
    assert (await lock_state(app.state.db, unknown))[0] == 5


async def test_an_unknown_reference_costs_an_argon2_check(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = pins_module._verify

    def recording(stored: str, pin: str) -> bool:
        checked.append(stored)
        return real(stored, pin)

    monkeypatch.setattr(pins_module, "_verify", recording)
    oauth_error(await pin_login(client, new_reference(), WRONG), 400, "invalid_grant")
    assert checked == [pins_module.DUMMY_HASH]


async def test_what_cannot_be_a_reference_or_a_pin_is_not_counted(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    _, reference = await make_profile(app.state.db, PIN)
    oauth_error(await pin_login(client, reference, "12ab"), 400, "invalid_grant")
    oauth_error(await pin_login(client, "ONW-UUUU-0000", PIN), 400, "invalid_grant")
    assert await lock_state(app.state.db, reference) == (0, None)


# --- 2. per-address limit ---------------------------------------------------------------


async def test_sign_in_attempts_are_limited_per_client_address(strict_app: FastAPI) -> None:
    _, reference = await make_profile(strict_app.state.db, PIN)
    async with (
        client_from(strict_app, "192.0.2.10") as one,
        client_from(strict_app, "192.0.2.11") as other,
    ):
        for _ in range(3):
            oauth_error(await pin_login(one, new_reference(), WRONG), 400, "invalid_grant")
        r = await pin_login(one, reference, PIN)  # even the right PIN
        body = oauth_error(r, 429, "slow_down")
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert PIN not in r.text
        assert "address" in body["error_description"]
        # Refused attempts are not counted against the reference…
        assert await lock_state(strict_app.state.db, reference) == (0, None)
        # …and another address is not held up.
        assert (await pin_login(other, reference, PIN)).status_code == 200


async def test_an_authenticated_client_is_not_an_unauthenticated_sign_in(
    strict_app: FastAPI,
) -> None:
    kiosk = await Actors(strict_app).client("profiles:create", kind="establishment")
    _, reference = await make_profile(strict_app.state.db, PIN)
    form = {"grant_type": "urn:onward:grant-type:leaver-pin", "reference": reference}
    async with client_from(strict_app, "192.0.2.20") as c:
        for _ in range(4):
            r = await c.post(
                "/oauth/token",
                data={**form, "pin": PIN},
                headers=basic(kiosk.client_id, kiosk.client_secret),
            )
            assert r.status_code == 200, r.text


async def test_the_address_behind_a_trusted_proxy_is_the_rightmost_untrusted_hop(
    strict_app: FastAPI,
) -> None:
    _, reference = await make_profile(strict_app.state.db, PIN)
    async with client_from(strict_app, "10.1.2.3") as proxy:
        # The client forged a first hop; our proxies appended the real one (and each other).
        forwarded = {"X-Forwarded-For": "203.0.113.99, 198.51.100.7, 10.9.9.9"}
        for _ in range(3):
            r = await proxy.post(
                "/oauth/token",
                data={
                    "grant_type": "urn:onward:grant-type:leaver-pin",
                    "reference": new_reference(),
                    "pin": WRONG,
                },
                headers=forwarded,
            )
            oauth_error(r, 400, "invalid_grant")
        r = await proxy.post(
            "/oauth/token",
            data={
                "grant_type": "urn:onward:grant-type:leaver-pin",
                "reference": reference,
                "pin": PIN,
            },
            headers={"X-Forwarded-For": "203.0.113.1, 198.51.100.7"},
        )
        oauth_error(r, 429, "slow_down")
        # Another client behind the same proxy has its own count.
        r = await proxy.post(
            "/oauth/token",
            data={
                "grant_type": "urn:onward:grant-type:leaver-pin",
                "reference": reference,
                "pin": PIN,
            },
            headers={"X-Forwarded-For": "198.51.100.8"},
        )
        assert r.status_code == 200, r.text


async def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(strict_app: FastAPI) -> None:
    async with client_from(strict_app, "192.0.2.30") as c:
        for i in range(3):
            r = await c.post(
                "/oauth/token",
                data={
                    "grant_type": "urn:onward:grant-type:leaver-pin",
                    "reference": new_reference(),
                    "pin": WRONG,
                },
                headers={"X-Forwarded-For": f"198.51.100.{i + 50}"},
            )
            oauth_error(r, 400, "invalid_grant")
        r = await c.post(
            "/oauth/token",
            data={
                "grant_type": "urn:onward:grant-type:leaver-pin",
                "reference": new_reference(),
                "pin": WRONG,
            },
            headers={"X-Forwarded-For": "198.51.100.99"},
        )
        oauth_error(r, 429, "slow_down")


async def test_ipv6_clients_are_counted_per_64(strict_app: FastAPI) -> None:
    for i in range(3):
        async with client_from(strict_app, f"2001:db8:1:2::{i + 1}") as c:
            oauth_error(await pin_login(c, new_reference(), WRONG), 400, "invalid_grant")
    async with client_from(strict_app, "2001:db8:1:2:ffff::1") as c:
        oauth_error(await pin_login(c, new_reference(), WRONG), 429, "slow_down")
    async with client_from(strict_app, "2001:db8:1:3::1") as c:
        oauth_error(await pin_login(c, new_reference(), WRONG), 400, "invalid_grant")


# --- 3. the bounded PIN pool -------------------------------------------------------------


@pytest.fixture
async def roomy_committed_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    """Real concurrency, and a per-address limit too high to get in the flood's way."""
    tuned = settings.model_copy(update={"sign_in_per_minute": 100_000})
    database = Database(engine, async_sessionmaker(engine, expire_on_commit=False))
    async for app in running(tuned, database):
        yield app


@pytest.mark.committed
async def test_a_flood_of_guesses_does_not_hold_up_a_leaver_elsewhere(
    roomy_committed_app: FastAPI,
) -> None:
    app = roomy_committed_app
    _, reference = await make_profile(app.state.db, PIN)
    # Committed counts outlive the test: addresses no other test uses.
    prefix = f"2001:db8:{uuid.uuid4().hex[:4]}"
    async with (
        client_from(app, f"{prefix}:1::1") as flooder,
        client_from(app, f"{prefix}:2::1") as leaver,
    ):
        flood = [asyncio.create_task(pin_login(flooder, new_reference(), WRONG)) for _ in range(60)]
        # Let the flood reach the pool before the leaver arrives.
        for _ in range(200):
            if app.state.pin_checks.admitted:
                break
            await asyncio.sleep(0.005)
        started = time.perf_counter()
        r = await pin_login(leaver, reference, PIN)
        elapsed = time.perf_counter() - started
        answers = await asyncio.gather(*flood)
    assert r.status_code == 200, r.text
    assert elapsed < 1.0, elapsed
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {400, 503}, statuses
    assert statuses.count(503) > 0, "the pool took the whole flood: it is not bounded"
    for a in answers:
        if a.status_code == 503:
            oauth_error(a, 503, "temporarily_unavailable")
            assert int(a.headers["retry-after"]) >= 1
    assert app.state.pin_checks.admitted == 0


async def test_the_pool_turns_away_what_it_cannot_hold() -> None:
    pool = pins_module.PinCheckPool(workers=1, waiting=2, per_address=2)
    try:
        with pool.admit("a"), pool.admit("a"):
            with pytest.raises(pins_module.PinChecksBusy), pool.admit("a"):
                pass  # pragma: no cover - refused before entering
            with pool.admit("b"):
                assert pool.admitted == 3
                with pytest.raises(pins_module.PinChecksBusy), pool.admit("c"):
                    pass  # pragma: no cover
        assert pool.admitted == 0
        with pool.admit("a") as check:
            assert await check.verify(pins_module.DUMMY_HASH, "123456") is False
        assert pool.admitted == 0
    finally:
        pool.close()


async def test_a_cancelled_check_keeps_its_place_until_its_thread_is_done() -> None:
    pool = pins_module.PinCheckPool(workers=1, waiting=0, per_address=1)
    try:

        async def check() -> bool:
            with pool.admit("a") as ticket:
                return await ticket.verify(pins_module.DUMMY_HASH, "123456")

        task = asyncio.create_task(check())
        await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The thread is still hashing: its place is still taken.
        assert pool.admitted == 1
        for _ in range(400):
            if pool.admitted == 0:
                break
            await asyncio.sleep(0.005)
        assert pool.admitted == 0
    finally:
        pool.close()


# --- 5. the expired token ----------------------------------------------------------------

EXPIRED = 'Bearer error="invalid_token", error_description="The access token expired"'
INVALID = 'Bearer error="invalid_token", error_description="The access token is invalid"'


def _expired(app: FastAPI, **kwargs: Any) -> str:
    token: str = app.state.tokens.issue(now=int(time.time()) - 700, ttl_seconds=600, **kwargs).token
    return token


async def test_an_expired_token_says_so_on_an_ordinary_route(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    profile_id, _ = await make_profile(app.state.db, PIN)
    token = _expired(app, subject=str(profile_id), client_id=LEAVER_CLIENT_ID, scopes=["self"])
    r = await client.get("/v1/me", headers=bearer(token))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == EXPIRED
    assert r.json()["detail"] == "The access token expired"
    # Anything else that is wrong with a token says only that it is invalid.
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    r = await client.get("/v1/me", headers=bearer(forged))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == INVALID


async def test_an_expired_token_says_so_on_the_partner_read(
    settings: Settings, db: Database
) -> None:
    async for app in running(settings, db):
        partner = await Actors(app).client("profiles:read")
        token = _expired(
            app,
            subject=partner.client_id,
            client_id=partner.client_id,
            scopes=["profiles:read"],
            organisation_id=str(partner.organisation_id),
        )
        async with client_from(app, "192.0.2.1") as c:
            r = await c.get(f"/v1/profiles/{uuid.uuid4()}", headers=bearer(token))
            assert r.status_code == 401
            assert r.headers["www-authenticate"] == EXPIRED
            assert r.json()["detail"] == "The access token expired"
            r = await c.get(f"/v1/profiles/{uuid.uuid4()}", headers=bearer(token + "x"))
            assert r.status_code == 401
            assert r.headers["www-authenticate"] == INVALID


async def test_pruning_forgets_only_what_no_longer_limits_anyone(app: FastAPI) -> None:
    from sqlalchemy import text

    from app.auth.throttle import prune

    fresh, idle, locked = new_reference(), new_reference(), new_reference()
    async with app.state.db.sessionmaker() as session:
        await session.execute(
            text(
                "INSERT INTO pin_attempts (reference, failed_attempts, locked_until, updated_at) "
                "VALUES (:fresh, 2, NULL, now()), "
                "(:idle, 4, NULL, now() - interval '2 days'), "
                "(:locked, 5, now() + interval '5 minutes', now() - interval '2 days')"
            ),
            {"fresh": fresh, "idle": idle, "locked": locked},
        )
        await session.execute(
            text(
                "INSERT INTO sign_in_attempts (address, attempted_at, updated_at) VALUES "
                "('192.0.2.200', ARRAY[now()], now()), "
                "('192.0.2.201', ARRAY[now() - interval '2 minutes'], "
                "now() - interval '2 minutes')"
            )
        )
        await prune(session)
        await session.commit()
        kept = set((await session.execute(text("SELECT reference FROM pin_attempts"))).scalars())
        addresses = set(
            (await session.execute(text("SELECT address FROM sign_in_attempts"))).scalars()
        )
    assert {fresh, locked} <= kept
    assert idle not in kept
    assert "192.0.2.200" in addresses
    assert "192.0.2.201" not in addresses
