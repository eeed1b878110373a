"""POST /v1/profiles: the kiosk creates a leaver's profile."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from sqlalchemy import text

from app.auth.reference import PATTERN
from app.db import Database
from tests.api.consent_helpers import PIN, full_document, kiosk
from tests.conftest import problem
from tests.support import Actors


async def test_kiosk_creates_a_profile_with_a_reference(
    client: httpx.AsyncClient, actors: Actors, db: Database
) -> None:
    station = await kiosk(actors)
    response = await client.post(
        "/v1/profiles", json={"pin": PIN, "data": full_document()}, headers=station.headers
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "reference", "created_at"}
    assert PATTERN.fullmatch(body["reference"])
    assert response.headers["cache-control"] == "no-store"
    async with db.sessionmaker() as session:
        row = (
            await session.execute(
                text(
                    "SELECT pin_hash, data, version, created_by_client_id FROM profiles "
                    "WHERE id = :id"
                ),
                {"id": body["id"]},
            )
        ).one()
    assert row.pin_hash.startswith("$argon2id$")
    assert PIN not in row.pin_hash
    assert row.data["release"]["expected_at"] == "2026-12-04T09:00:00Z"
    assert row.version == 1
    assert row.created_by_client_id == station.client_id


async def test_references_are_distinct(client: httpx.AsyncClient, actors: Actors) -> None:
    station = await kiosk(actors)
    refs = set()
    for _ in range(3):
        r = await client.post(
            "/v1/profiles", json={"pin": PIN, "data": {}}, headers=station.headers
        )
        refs.add(r.json()["reference"])
    assert len(refs) == 3


@pytest.mark.parametrize("pin", ["123456", "000000", "987654", "12345", "12ab56", "1" * 13])
async def test_weak_or_malformed_pins_are_refused_and_never_echoed(
    client: httpx.AsyncClient, actors: Actors, pin: str
) -> None:
    station = await kiosk(actors)
    response = await client.post(
        "/v1/profiles", json={"pin": pin, "data": {}}, headers=station.headers
    )
    assert response.status_code == 422
    body = problem(response)
    assert pin not in response.text
    assert body["errors"][0]["loc"] == ["body", "pin"]


async def test_invalid_profile_is_refused_without_echo(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    station = await kiosk(actors)
    response = await client.post(
        "/v1/profiles",
        json={"pin": PIN, "data": {"story": {"summary": "SECRET" * 1000}, "extra": 1}},
        headers=station.headers,
    )
    assert response.status_code == 422
    assert "SECRET" not in response.text
    locs = [e["loc"] for e in problem(response)["errors"]]
    assert ["body", "data", "story", "summary"] in locs
    assert ["body", "data", "<unknown>"] in locs


async def test_progress_is_read_only_at_creation(client: httpx.AsyncClient, actors: Actors) -> None:
    station = await kiosk(actors)
    reading = {
        "id": "7d3c0f0e-3c0a-4d0b-9a43-1a0e0e0e0e0e",
        "readings": {"accommodation": 3},
        "recorded_at": "2026-11-01T10:00:00Z",
    }
    response = await client.post(
        "/v1/profiles",
        json={"pin": PIN, "data": {"progress": {"latest": reading}}},
        headers=station.headers,
    )
    assert response.status_code == 422
    assert problem(response)["errors"][0]["loc"] == ["body", "data", "progress"]


async def test_creation_needs_the_kiosk_scope(client: httpx.AsyncClient, actors: Actors) -> None:
    partner = await actors.client("profiles:read")
    response = await client.post(
        "/v1/profiles", json={"pin": PIN, "data": {}}, headers=partner.headers
    )
    assert response.status_code == 403
    assert 'scope="profiles:create"' in response.headers["www-authenticate"]
    response = await client.post("/v1/profiles", json={"pin": PIN, "data": {}})
    assert response.status_code == 401


async def test_the_kiosk_cannot_read_the_profile_back(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    station = await kiosk(actors)
    created = (
        await client.post("/v1/profiles", json={"pin": PIN, "data": {}}, headers=station.headers)
    ).json()
    assert (
        await client.get(f"/v1/profiles/{created['id']}", headers=station.headers)
    ).status_code == 403
    assert (await client.get("/v1/me", headers=station.headers)).status_code == 403
    assert re.fullmatch(r"ONW-[0-9A-Z]{4}-[0-9A-Z]{4}", created["reference"])


async def test_a_reference_collision_is_retried(
    client: httpx.AsyncClient, actors: Actors, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.profiles import service

    station = await kiosk(actors)
    first = (await client.post("/v1/profiles", json={"pin": PIN}, headers=station.headers)).json()
    fresh = "ONW-ZZZZ-ZZZ1"
    candidates = iter([first["reference"], first["reference"], fresh])
    monkeypatch.setattr(service, "new_reference", lambda: next(candidates))
    response = await client.post(
        "/v1/profiles", json={"pin": PIN, "data": None}, headers=station.headers
    )
    assert response.status_code == 201
    assert response.json()["reference"] == fresh


async def test_a_grant_for_a_vanished_profile_is_404(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    partner = await actors.client("profiles:read")
    ghost = actors.leaver_headers(uuid.uuid4())
    response = await client.post(
        "/v1/me/consents",
        json={
            "organisation_id": str(partner.organisation_id),
            "fields": ["contact"],
            "purpose": "referral",
        },
        headers=ghost,
    )
    assert response.status_code == 404
    assert (await client.get("/v1/me", headers=ghost)).status_code == 404
