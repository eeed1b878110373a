"""The partner read as production runs it: on the asyncpg pool, in autocommit.

The rest of the suite drives the read through the test's rolled-back transaction; these
tests give the app a real pool, so the single liveness+profile+grants statement and the
autocommit access-event insert run exactly as they do in a deployment.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.db import Database, make_pool
from app.main import create_app
from app.settings import Settings
from tests.api.consent_helpers import Leaver, grant, make_leaver
from tests.support import Actor, Actors


@pytest.fixture
async def pooled_app(
    settings: Settings, engine: AsyncEngine, database_url: str
) -> AsyncIterator[FastAPI]:
    database = Database(engine, async_sessionmaker(engine, expire_on_commit=False))
    database.pool = await make_pool(database_url, settings)
    app = create_app(settings, database=database)
    async with app.router.lifespan_context(app):
        yield app
    await database.pool.close()


@pytest.fixture
async def pooled(pooled_app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, Actors]]:
    transport = httpx.ASGITransport(app=pooled_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c, Actors(pooled_app)


async def _shared_contact(
    client: httpx.AsyncClient, actors: Actors
) -> tuple[Actor, Leaver, dict[str, Any]]:
    """A partner, a leaver who granted it `contact`, and one successful read."""
    partner = await actors.client("profiles:read")
    leaver = await make_leaver(client, actors)
    g = await grant(client, leaver, partner.organisation_id, ["contact"])
    assert (await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)).is_success
    return partner, leaver, g


async def test_read_discloses_granted_leaves_and_logs_the_access(
    pooled: tuple[httpx.AsyncClient, Actors],
) -> None:
    client, actors = pooled
    partner = await actors.client("profiles:read")
    leaver = await make_leaver(client, actors)
    g = await grant(client, leaver, partner.organisation_id, ["contact.phone", "identity"])

    r = await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body["data"]) == {"contact", "identity"}
    assert set(body["data"]["contact"]) == {"phone"}
    assert body["grant_ids"] == [g["id"]]
    assert r.headers["cache-control"] == "no-store"

    log = (await client.get("/v1/me/access-log", headers=leaver.headers)).json()["items"]
    assert len(log) == 1
    assert log[0]["organisation"]["id"] == str(partner.organisation_id)
    assert log[0]["fields"] == body["disclosed_fields"]
    assert log[0]["grant_ids"] == [g["id"]]


async def test_no_grant_and_missing_profile_are_the_same_404(
    pooled: tuple[httpx.AsyncClient, Actors],
) -> None:
    client, actors = pooled
    partner = await actors.client("profiles:read")
    leaver = await make_leaver(client, actors)
    a = await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)
    b = await client.get(f"/v1/profiles/{uuid.uuid4()}", headers=partner.headers)
    c = await client.get("/v1/profiles/not-a-uuid", headers=partner.headers)
    assert a.status_code == b.status_code == c.status_code == 404
    assert a.json() == b.json() == c.json()


async def test_revoked_token_is_refused_on_the_next_read(
    pooled: tuple[httpx.AsyncClient, Actors], engine: AsyncEngine
) -> None:
    client, actors = pooled
    partner, leaver, _ = await _shared_contact(client, actors)

    claims = actors.tokens.verify(partner.token)
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO revoked_tokens (jti, expires_at) VALUES (:jti, :exp)"),
            {"jti": claims["jti"], "exp": datetime.now(UTC) + timedelta(minutes=10)},
        )
    try:
        r = await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)
        # A dead token is 401 whatever it asks for, never a 404 that says "not visible".
        unknown = await client.get(f"/v1/profiles/{uuid.uuid4()}", headers=partner.headers)
    finally:  # committed data: leave no revocation behind for tests that count them
        async with engine.begin() as conn:
            await conn.execute(
                text("DELETE FROM revoked_tokens WHERE jti = :jti"), {"jti": claims["jti"]}
            )
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    assert "contact" not in r.text
    assert unknown.status_code == 401
    # Nothing was disclosed, so nothing was recorded: only _shared_contact's read is logged.
    log = (await client.get("/v1/me/access-log", headers=leaver.headers)).json()["items"]
    assert len(log) == 1


async def test_disabled_client_is_refused_on_the_next_read(
    pooled: tuple[httpx.AsyncClient, Actors], engine: AsyncEngine
) -> None:
    client, actors = pooled
    partner, leaver, _ = await _shared_contact(client, actors)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE clients SET active = false WHERE client_id = :c"), {"c": partner.client_id}
        )
    r = await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_revoked_grant_discloses_nothing_on_the_next_read(
    pooled: tuple[httpx.AsyncClient, Actors],
) -> None:
    client, actors = pooled
    partner, leaver, g = await _shared_contact(client, actors)
    revoked = await client.post(f"/v1/me/consents/{g['id']}/revoke", headers=leaver.headers)
    assert revoked.status_code == 200
    r = await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)
    assert r.status_code == 404


async def test_fast_path_and_fastapi_route_answer_alike(
    settings: Settings, db: Database, client: httpx.AsyncClient, actors: Actors
) -> None:
    """The fast path (app/api/fast.py) and the documented FastAPI route give the same
    status, body and headers for a read, a 404, a missing token, a bad token and a
    missing scope."""
    partner = await actors.client("profiles:read")
    writer = await actors.client("offers:write")
    leaver = await make_leaver(client, actors)
    await grant(client, leaver, partner.organisation_id, ["contact", "identity.given_name"])

    slow_app = create_app(settings.model_copy(update={"fast_paths": False}), database=db)
    async with slow_app.router.lifespan_context(slow_app):
        transport = httpx.ASGITransport(app=slow_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as slow:
            cases = [
                (f"/v1/profiles/{leaver.id}", partner.headers),
                (f"/v1/profiles/{uuid.uuid4()}", partner.headers),
                (f"/v1/profiles/{leaver.id}", {}),
                (f"/v1/profiles/{leaver.id}", {"Authorization": "Bearer not-a-token"}),
                (f"/v1/profiles/{leaver.id}", writer.headers),
                (f"/v1/profiles/{leaver.id}?access_token=x", partner.headers),
            ]
            for path, headers in cases:
                fast_r = await client.get(path, headers=headers)
                slow_r = await slow.get(path, headers=headers)
                assert fast_r.status_code == slow_r.status_code, path
                assert fast_r.json() == slow_r.json(), path
                for h in ("content-type", "cache-control", "www-authenticate"):
                    assert fast_r.headers.get(h) == slow_r.headers.get(h), (path, h)


async def test_concurrent_reads_each_record_their_event(
    pooled: tuple[httpx.AsyncClient, Actors],
) -> None:
    """Concurrent reads each append their own access event."""
    import asyncio

    client, actors = pooled
    partner = await actors.client("profiles:read")
    leaver = await make_leaver(client, actors)
    await grant(client, leaver, partner.organisation_id, ["contact"])
    answers = await asyncio.gather(
        *[client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers) for _ in range(24)]
    )
    assert [a.status_code for a in answers] == [200] * 24
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/me/access-log", params=params, headers=leaver.headers)).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(set(seen)) == 24


async def _contact_read_by(
    pooled: tuple[httpx.AsyncClient, Actors],
    monkeypatch: pytest.MonkeyPatch,
    old: str,
    new: str,
) -> tuple[Actor, Leaver]:
    """A partner, a leaver who granted it `contact`, and the hot statement with `old`
    replaced by `new` (for as long as the test runs)."""
    from app.profiles import service

    client, actors = pooled
    partner = await actors.client("profiles:read")
    leaver = await make_leaver(client, actors)
    await grant(client, leaver, partner.organisation_id, ["contact"])
    patched = service._READ_ONE.replace(old, new)
    assert patched != service._READ_ONE
    monkeypatch.setattr(service, "_READ_ONE", patched)
    return partner, leaver


async def test_unrecorded_read_fails_with_503(
    pooled: tuple[httpx.AsyncClient, Actors], monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    client, _ = pooled
    # The event's insert fails as it executes (NOT NULL), after the profile was read.
    partner, leaver = await _contact_read_by(
        pooled, monkeypatch, "clock_timestamp() FROM v", "NULL FROM v"
    )
    answers = await asyncio.gather(
        *[client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers) for _ in range(6)]
    )
    assert {a.status_code for a in answers} == {503}
    for a in answers:
        assert a.headers["content-type"].startswith("application/problem+json")
        assert "contact" not in a.text
        assert a.headers["retry-after"] == "5"


async def test_unexpected_error_on_the_fast_path_is_a_bare_500(
    client: httpx.AsyncClient, actors: Actors, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.profiles import service

    async def boom(*_: object) -> None:
        raise RuntimeError("SENTINEL-STORY-IN-AN-ERROR")

    partner = await actors.client("profiles:read")
    monkeypatch.setattr(service, "read_for_partner", boom)
    r = await client.get(f"/v1/profiles/{uuid.uuid4()}", headers=partner.headers)
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["cache-control"] == "no-store"
    assert "SENTINEL" not in r.text


async def test_token_lane_and_fastapi_route_answer_alike(
    settings: Settings, db: Database, client: httpx.AsyncClient, actors: Actors
) -> None:
    """POST /oauth/token through the fast lane and through FastAPI: same answers."""
    partner = await actors.client("profiles:read")
    form = {"content-type": "application/x-www-form-urlencoded"}
    cases: list[tuple[bytes, dict[str, str]]] = [
        (
            f"grant_type=client_credentials&client_id={partner.client_id}"
            f"&client_secret={partner.client_secret}".encode(),
            form,
        ),
        (
            f"grant_type=client_credentials&client_id={partner.client_id}"
            "&client_secret=wrong".encode(),
            form,
        ),
        (
            b"grant_type=client_credentials&scope=admin&client_id="
            + partner.client_id.encode()
            + b"&client_secret="
            + partner.client_secret.encode(),
            form,
        ),
        (b"grant_type=password", form),
        (b'{"grant_type": "client_credentials"}', {"content-type": "application/json"}),
        (b"x" * (1024 * 1024 + 1), form),
    ]
    slow_app = create_app(settings.model_copy(update={"fast_paths": False}), database=db)
    async with slow_app.router.lifespan_context(slow_app):
        transport = httpx.ASGITransport(app=slow_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as slow:
            for body, headers in cases:
                fast_r = await client.post("/oauth/token", content=body, headers=headers)
                slow_r = await slow.post("/oauth/token", content=body, headers=headers)
                assert fast_r.status_code == slow_r.status_code, body[:60]
                fast_body, slow_body = fast_r.json(), slow_r.json()
                if fast_r.status_code == 200:
                    assert fast_body.keys() == slow_body.keys()
                    assert fast_body["scope"] == slow_body["scope"] == "profiles:read"
                else:
                    assert fast_body == slow_body
                for h in ("content-type", "cache-control", "www-authenticate"):
                    assert fast_r.headers.get(h) == slow_r.headers.get(h), (body[:60], h)
