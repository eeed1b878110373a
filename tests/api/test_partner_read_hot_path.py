"""The partner read and the token endpoint: the hot paths, served as ordinary routes.

Most tests here give the app a real asyncpg pool, so the single statement (liveness,
stored cut, access event) runs in autocommit exactly as in a deployment; the rest of the
suite drives the read through the test's rolled-back transaction. Both endpoints are
lean routes (``app/routing.py``) inside the one middleware stack: the tests check what a
caller sees (status, headers, body) on every kind of answer.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from starlette.routing import Match

from app.api import oauth as oauth_api
from app.api import profiles as profiles_api
from app.db import Database, make_pool
from app.main import create_app
from app.routing import LeanRoute
from app.settings import Settings
from tests.api.consent_helpers import Leaver, grant, make_leaver
from tests.conftest import problem
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


def _route_serving(app: FastAPI, method: str, path: str) -> APIRoute:
    """The one route of ``app`` that a request ``method path`` reaches."""
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    full = [r for r in app.router.routes if r.matches(scope)[0] is Match.FULL]
    assert len(full) == 1, full
    assert isinstance(full[0], APIRoute)
    return full[0]


@pytest.mark.parametrize(
    ("method", "path", "endpoint"),
    [
        ("GET", f"/v1/profiles/{uuid.uuid4()}", profiles_api.read_profile),
        ("POST", "/oauth/token", oauth_api.token),
    ],
)
async def test_the_documented_route_is_the_served_route(
    app: FastAPI, method: str, path: str, endpoint: object
) -> None:
    """The partner read and the token endpoint are ordinary routes, registered once: the
    route a request reaches, ahead of every other, is the one OpenAPI documents, and no
    middleware answers them beneath the framework (issue 12)."""
    route = _route_serving(app, method, path)
    assert isinstance(route, LeanRoute)
    assert route.endpoint is endpoint
    # Ahead of every other route but the fixed /v1/profiles/changes (not a profile id).
    lean = [r for r in app.router.routes if isinstance(r, LeanRoute)]
    assert [getattr(r, "path", None) for r in app.router.routes[:1]] == ["/v1/profiles/changes"]
    assert app.router.routes[1:3] == lean
    operation = app.openapi()["paths"][route.path][method.lower()]
    assert operation["operationId"] == route.unique_id
    assert "description" in operation
    assert [getattr(m.cls, "__name__", None) for m in app.user_middleware] == [
        "HostCheck",
        "RetryReads",
        "ResponseHeaders",
        "BodySizeLimit",
        "LastResort",
    ]
    assert "fast_paths" not in Settings.model_fields


async def test_every_answer_of_the_partner_read_carries_the_security_headers(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    """200, 401 (missing, malformed, bad, in the query), 403 and 404: each is no-store and
    nosniff; each error is a problem document with the RFC 6750 challenge where due."""
    partner = await actors.client("profiles:read")
    writer = await actors.client("offers:write")
    leaver = await make_leaver(client, actors)
    await grant(client, leaver, partner.organisation_id, ["contact", "identity.given_name"])
    cases: list[tuple[str, dict[str, str], int, str | None]] = [
        (f"/v1/profiles/{leaver.id}", partner.headers, 200, None),
        (f"/v1/profiles/{uuid.uuid4()}", partner.headers, 404, None),
        ("/v1/profiles/not-a-uuid", partner.headers, 404, None),
        (f"/v1/profiles/{leaver.id}", {}, 401, "Bearer"),
        (
            f"/v1/profiles/{leaver.id}",
            {"Authorization": "Bearer not-a-token"},
            401,
            'Bearer error="invalid_token", error_description="The access token is invalid"',
        ),
        (
            f"/v1/profiles/{leaver.id}",
            {"Authorization": "Basic eDp5"},
            401,
            'Bearer error="invalid_token", error_description="Use the Bearer scheme"',
        ),
        (
            f"/v1/profiles/{leaver.id}",
            writer.headers,
            403,
            'Bearer error="insufficient_scope", scope="profiles:read"',
        ),
        (f"/v1/profiles/{leaver.id}?access_token=x", partner.headers, 401, None),
    ]
    for path, headers, status, challenge in cases:
        r = await client.get(path, headers=headers)
        assert r.status_code == status, (path, r.text)
        assert r.headers["cache-control"] == "no-store", path
        assert r.headers["x-content-type-options"] == "nosniff", path
        if status == 200:
            assert r.headers["content-type"] == "application/json"
            body = r.json()
            assert set(body) == {
                "id",
                "data",
                "disclosed_fields",
                "grant_ids",
                "version",
                "updated_at",
            }
            assert set(body["data"]) == {"contact", "identity"}
            assert set(body["data"]["identity"]) == {"given_name"}
            assert int(r.headers["content-length"]) == len(r.content)
            continue
        document = problem(r)
        assert document["status"] == status
        assert "contact" not in r.text
        assert "given_name" not in r.text
        if challenge is not None:
            assert r.headers["www-authenticate"] == challenge, path
        if status == 401:
            assert r.headers["www-authenticate"].startswith("Bearer"), path


async def test_the_read_answer_is_the_stored_cut_as_json(
    pooled: tuple[httpx.AsyncClient, Actors],
) -> None:
    """The answer is spliced from the stored cut's JSON text: it parses, and it says
    exactly what the list (rendered from decoded rows) says about the same profile."""
    client, actors = pooled
    partner = await actors.client("profiles:read")
    leaver = await make_leaver(client, actors)
    await grant(client, leaver, partner.organisation_id, ["contact", "identity"])
    one = await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)
    listed = await client.get("/v1/profiles", headers=partner.headers)
    assert one.status_code == listed.status_code == 200
    (item,) = [i for i in listed.json()["items"] if i["id"] == str(leaver.id)]
    assert one.json() == item
    assert one.json()["updated_at"].endswith("Z")


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
    from app.profiles import repository

    client, actors = pooled
    partner = await actors.client("profiles:read")
    leaver = await make_leaver(client, actors)
    await grant(client, leaver, partner.organisation_id, ["contact"])
    patched = repository.PARTNER_READ_SQL.replace(old, new)
    assert patched != repository.PARTNER_READ_SQL
    monkeypatch.setattr(repository, "PARTNER_READ_SQL", patched)
    return partner, leaver


async def test_unrecorded_read_fails_with_503(
    pooled: tuple[httpx.AsyncClient, Actors], monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    client, _ = pooled
    # The event's insert fails as it executes (NOT NULL), after the profile was read.
    partner, leaver = await _contact_read_by(pooled, monkeypatch, "clock_timestamp()", "NULL")
    answers = await asyncio.gather(
        *[client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers) for _ in range(6)]
    )
    assert {a.status_code for a in answers} == {503}
    for a in answers:
        assert a.headers["content-type"].startswith("application/problem+json")
        assert "contact" not in a.text
        assert a.headers["retry-after"] == "5"


async def test_unexpected_error_on_the_partner_read_is_a_bare_500(
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
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "SENTINEL" not in r.text


async def test_every_answer_of_the_token_endpoint_is_rfc6749_and_no_store(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    """POST /oauth/token: a token, a wrong secret, a scope not held, an unknown grant, a
    JSON body and an oversized body each answer as RFC 6749 says (the 413 is the body
    limit's problem document), and all of them carry no-store and nosniff."""
    partner = await actors.client("profiles:read")
    form = {"content-type": "application/x-www-form-urlencoded"}
    credentials = f"client_id={partner.client_id}&client_secret={partner.client_secret}"
    cases: list[tuple[bytes, dict[str, str], int, str | None]] = [
        (f"grant_type=client_credentials&{credentials}".encode(), form, 200, None),
        (
            f"grant_type=client_credentials&client_id={partner.client_id}"
            "&client_secret=wrong".encode(),
            form,
            401,
            "invalid_client",
        ),
        (f"grant_type=client_credentials&scope=admin&{credentials}".encode(), form, 400, None),
        (b"grant_type=password", form, 400, "unsupported_grant_type"),
        (
            b'{"grant_type": "client_credentials"}',
            {"content-type": "application/json"},
            400,
            "invalid_request",
        ),
        (b"x" * (1024 * 1024 + 1), form, 413, None),
    ]
    for body, headers, status, error in cases:
        r = await client.post("/oauth/token", content=body, headers=headers)
        assert r.status_code == status, (body[:60], r.text)
        assert r.headers["cache-control"] == "no-store", body[:60]
        assert r.headers["x-content-type-options"] == "nosniff", body[:60]
        if status == 200:
            answer = r.json()
            assert answer["token_type"] == "Bearer"
            assert answer["scope"] == "profiles:read"
            assert r.headers["pragma"] == "no-cache"
        elif status == 413:
            assert problem(r)["status"] == 413
        else:
            answer = r.json()
            assert set(answer) == {"error", "error_description"}
            assert r.headers["pragma"] == "no-cache"
            if error is not None:
                assert answer["error"] == error
            if status == 401:
                assert r.headers["www-authenticate"].startswith("Basic")
            assert partner.client_secret not in r.text
