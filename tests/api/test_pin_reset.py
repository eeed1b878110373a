"""POST /v1/profiles/pin-reset: the kiosk gives a leaver a new PIN (API.md §1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.auth.reference import new_reference
from tests.api.identity_helpers import lock_state, pin_login, set_lock_state
from tests.conftest import problem
from tests.support import Actor, Actors

OLD = "482916"
NEW = "730265"
RESET = "/v1/profiles/pin-reset"


async def kiosk_profile(client: httpx.AsyncClient, kiosk: Actor) -> dict[str, Any]:
    r = await client.post(
        "/v1/profiles",
        json={"pin": OLD, "data": {"identity": {"given_name": "Sam"}}},
        headers=kiosk.headers,
    )
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


@pytest.fixture
async def kiosk(actors: Actors) -> Actor:
    return await actors.client("profiles:create", kind="establishment", name="HMP Bullingdon")


async def test_the_kiosk_resets_the_pin_and_the_leaver_sees_it(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, kiosk: Actor
) -> None:
    profile = await kiosk_profile(client, kiosk)
    reference = profile["reference"]
    # Locked out after forgetting the PIN.
    await set_lock_state(
        app.state.db,
        reference,
        attempts=5,
        locked_until=datetime.now(UTC) + timedelta(minutes=10),
    )
    assert (await pin_login(client, reference, OLD)).status_code == 429

    # Typed as a person would: lower case, spaces.
    typed = reference.lower().replace("-", " ")
    r = await client.post(RESET, json={"reference": typed, "pin": NEW}, headers=kiosk.headers)
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert await lock_state(app.state.db, reference) == (0, None)

    assert (await pin_login(client, reference, OLD)).status_code == 400
    signed_in = await pin_login(client, reference, NEW)
    assert signed_in.status_code == 200, signed_in.text
    token = signed_in.json()["access_token"]
    log = await client.get("/v1/me/access-log", headers={"Authorization": f"Bearer {token}"})
    assert log.status_code == 200
    [event] = [e for e in log.json()["items"] if e["action"] == "pin.reset"]
    assert event["organisation"] == {"id": str(kiosk.organisation_id), "name": "HMP Bullingdon"}
    assert event["client_id"] == kiosk.client_id
    assert event["fields"] == []
    assert event["grant_ids"] == []


async def test_another_client_of_the_same_organisation_may_reset(
    client: httpx.AsyncClient, actors: Actors, kiosk: Actor
) -> None:
    profile = await kiosk_profile(client, kiosk)
    other = await actors.client("profiles:create", organisation_id=kiosk.organisation_id)
    r = await client.post(
        RESET, json={"reference": profile["reference"], "pin": NEW}, headers=other.headers
    )
    assert r.status_code == 204, r.text


async def test_another_organisations_reference_is_not_found_like_an_unknown_one(
    client: httpx.AsyncClient, actors: Actors, kiosk: Actor
) -> None:
    profile = await kiosk_profile(client, kiosk)
    elsewhere = await actors.client("profiles:create", kind="establishment")
    foreign = await client.post(
        RESET, json={"reference": profile["reference"], "pin": NEW}, headers=elsewhere.headers
    )
    unknown = await client.post(
        RESET, json={"reference": new_reference(), "pin": NEW}, headers=elsewhere.headers
    )
    malformed = await client.post(
        RESET, json={"reference": "hello", "pin": NEW}, headers=elsewhere.headers
    )
    for r in (foreign, unknown, malformed):
        assert r.status_code == 404
        assert problem(r) == problem(foreign)
        assert NEW not in r.text
    # Nothing changed: the old PIN still works.
    assert (await pin_login(client, profile["reference"], OLD)).status_code == 200


@pytest.mark.parametrize("pin", ["123456", "111111", "12345", "12ab56", "9876543210987"])
async def test_the_new_pin_follows_the_rules_of_creation_and_is_never_echoed(
    client: httpx.AsyncClient, kiosk: Actor, pin: str
) -> None:
    profile = await kiosk_profile(client, kiosk)
    r = await client.post(
        RESET, json={"reference": profile["reference"], "pin": pin}, headers=kiosk.headers
    )
    assert r.status_code == 422
    body = problem(r)
    assert body["errors"][0]["loc"] == ["body", "pin"]
    assert pin not in r.text
    assert (await pin_login(client, profile["reference"], OLD)).status_code == 200


async def test_unknown_fields_are_refused_without_echo(
    client: httpx.AsyncClient, kiosk: Actor
) -> None:
    r = await client.post(
        RESET,
        json={"reference": new_reference(), "pin": NEW, "730266": "x"},
        headers=kiosk.headers,
    )
    assert r.status_code == 422
    assert "730266" not in r.text
    assert NEW not in r.text


async def test_it_needs_the_profiles_create_scope(
    client: httpx.AsyncClient, actors: Actors, kiosk: Actor
) -> None:
    profile = await kiosk_profile(client, kiosk)
    body = {"reference": profile["reference"], "pin": NEW}
    assert (await client.post(RESET, json=body)).status_code == 401
    reader = await actors.client("profiles:read", organisation_id=kiosk.organisation_id)
    r = await client.post(RESET, json=body, headers=reader.headers)
    assert r.status_code == 403
    assert 'scope="profiles:create"' in r.headers["www-authenticate"]
    leaver = actors.leaver_headers(profile["id"])
    assert (await client.post(RESET, json=body, headers=leaver)).status_code == 403
