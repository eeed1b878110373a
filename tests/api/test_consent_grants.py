"""Consent grants: the catalogue, create, list, revoke, receipts."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.consent.catalogue import FIELDS, PURPOSES
from app.db import Database
from tests.api.consent_helpers import grant, make_leaver, revoke
from tests.conftest import problem
from tests.support import Actors


async def test_field_catalogue_is_public(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/consent/fields", headers={"Origin": "https://example.org"})
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list)
    assert len(body) == len(FIELDS)
    assert set(body[0]) == {"path", "section", "label", "sensitivity", "description"}
    by_path = {f["path"]: f for f in body}
    assert by_path["story.summary"]["sensitivity"] == "special_category"
    assert by_path["offence.category"]["sensitivity"] == "criminal_offence"
    assert by_path["needs.health"]["section"] == "needs"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["cache-control"].startswith("public")


async def test_purposes_are_public(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/consent/purposes")
    assert response.status_code == 200
    assert [p["code"] for p in response.json()] == [p.code for p in PURPOSES]
    assert set(response.json()[0]) == {"code", "label", "description"}


async def test_grant_shape_and_defaults(client: httpx.AsyncClient, actors: Actors) -> None:
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    before = datetime.now(UTC)
    body = await grant(
        client, leaver, partner.organisation_id, ["contact", "contact", "identity.gender"]
    )
    assert set(body) == {
        "id",
        "organisation",
        "fields",
        "purpose",
        "status",
        "explicit",
        "granted_at",
        "expires_at",
        "revoked_at",
        "receipt",
        "revocation_receipt",
    }
    assert body["organisation"] == {
        "id": str(partner.organisation_id),
        "name": partner.organisation_name,
    }
    assert body["fields"] == ["contact", "identity.gender"]
    assert body["status"] == "active"
    assert body["revoked_at"] is None
    granted = datetime.fromisoformat(body["granted_at"])
    expires = datetime.fromisoformat(body["expires_at"])
    assert before - timedelta(seconds=5) <= granted <= datetime.now(UTC)
    assert expires - granted == timedelta(days=365)
    assert body["granted_at"].endswith("Z")


async def test_receipt_verifies_against_the_jwks_and_records_the_grant(
    client: httpx.AsyncClient, actors: Actors, app: FastAPI
) -> None:
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    body = await grant(
        client,
        leaver,
        partner.organisation_id,
        ["needs", "contact.phone"],
        explicit=True,
        purpose="pre_release_planning",
    )
    tokens = app.state.tokens
    payload = tokens.verify_detached_jws(body["receipt"])
    assert payload["grant_id"] == body["id"]
    assert payload["sub"] == leaver.id
    assert payload["recipient"] == body["organisation"]
    assert payload["fields"] == ["needs", "contact.phone"]
    assert payload["purpose"] == "pre_release_planning"
    assert datetime.fromisoformat(payload["granted_at"]) == datetime.fromisoformat(
        body["granted_at"]
    )
    assert datetime.fromisoformat(payload["expires_at"]) == datetime.fromisoformat(
        body["expires_at"]
    )
    assert payload["policy_version"]
    assert payload["jurisdiction"] == "GB"
    assert payload["iss"] == "http://testserver"
    assert isinstance(payload["iat"], int)
    assert payload["consent_type"] == "explicit"
    assert {s["path"] for s in payload["sensitive"]} == {"needs.drugs_alcohol", "needs.health"}
    # The key that signed it is one the JWKS publishes (what /.well-known/jwks.json serves).
    header = json.loads(base64.urlsafe_b64decode(body["receipt"].split(".")[0] + "=="))
    assert header["alg"] == "ES256"
    assert header["kid"] in {k["kid"] for k in tokens.keys.jwks()["keys"]}
    # A tampered receipt does not verify.
    head, claims, sig = body["receipt"].split(".")
    with pytest.raises(Exception):  # noqa: B017
        tokens.verify_detached_jws(f"{head}.{claims[:-2]}AA.{sig}")


@pytest.mark.parametrize(
    "fields",
    [
        ["story"],
        ["story.summary"],
        ["needs"],
        ["needs.health"],
        ["offence"],
        ["offence.category"],
        ["contact", "needs.drugs_alcohol"],
    ],
)
async def test_sensitive_fields_need_explicit_consent(
    client: httpx.AsyncClient, actors: Actors, fields: list[str]
) -> None:
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    for explicit in (None, False):
        body: dict[str, Any] = {
            "organisation_id": str(partner.organisation_id),
            "fields": fields,
            "purpose": "referral",
        }
        if explicit is not None:
            body["explicit"] = explicit
        response = await client.post("/v1/me/consents", json=body, headers=leaver.headers)
        assert response.status_code == 422
        assert problem(response)["type"].endswith("/explicit-consent-required")
    ok = await grant(client, leaver, partner.organisation_id, fields, explicit=True)
    assert ok["explicit"] is True


async def test_explicit_consent_refusal_names_each_path_that_needs_it(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    fields = ["contact.phone", "story", "needs.accommodation", "offence.category", "needs"]
    response = await client.post(
        "/v1/me/consents",
        json={
            "organisation_id": str(partner.organisation_id),
            "fields": fields,
            "purpose": "support_delivery",
        },
        headers=leaver.headers,
    )
    assert response.status_code == 422
    doc = problem(response)
    assert doc["type"].endswith("/explicit-consent-required")
    assert [e["loc"] for e in doc["errors"]] == [
        ["body", "fields", 1],
        ["body", "fields", 3],
        ["body", "fields", 4],
    ]
    assert ["story" in doc["errors"][0]["msg"], "offence.category" in doc["errors"][1]["msg"]] == [
        True,
        True,
    ]


async def test_progress_latest_is_special_category(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    fields = (await client.get("/v1/consent/fields")).json()
    assert {f["path"]: f["sensitivity"] for f in fields}["progress.latest"] == "special_category"
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    response = await client.post(
        "/v1/me/consents",
        json={
            "organisation_id": str(partner.organisation_id),
            "fields": ["progress.latest"],
            "purpose": "support_delivery",
        },
        headers=leaver.headers,
    )
    assert response.status_code == 422
    assert problem(response)["errors"][0]["loc"] == ["body", "fields", 0]


async def test_standard_needs_leaf_needs_no_explicit_consent(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    assert (await grant(client, leaver, partner.organisation_id, ["needs.accommodation"]))[
        "status"
    ] == "active"


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"fields": ["contact", "contact.fax"]}, ["body", "fields", 1]),
        ({"fields": ["secrets"]}, ["body", "fields", 0]),
        ({"fields": []}, ["body", "fields"]),
        ({"purpose": "marketing"}, ["body", "purpose"]),
        ({"organisation_id": str(uuid.uuid4())}, ["body", "organisation_id"]),
        ({"expires_at": "2020-01-01T00:00:00Z"}, ["body", "expires_at"]),
        (
            {"expires_at": (datetime.now(UTC) + timedelta(days=731)).isoformat()},
            ["body", "expires_at"],
        ),
        ({"expires_at": "2027-01-01T00:00:00"}, ["body", "expires_at"]),
        ({"colour": "blue"}, ["body", "<unknown>"]),
    ],
)
async def test_invalid_grants_are_422(
    client: httpx.AsyncClient, actors: Actors, change: dict[str, Any], loc: list[str | int]
) -> None:
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    body = {
        "organisation_id": str(partner.organisation_id),
        "fields": ["contact"],
        "purpose": "referral",
        **change,
    }
    response = await client.post("/v1/me/consents", json=body, headers=leaver.headers)
    assert response.status_code == 422
    assert loc in [e["loc"] for e in problem(response)["errors"]]
    assert "marketing" not in response.text
    assert "contact.fax" not in response.text


async def test_expiry_within_limits_is_kept(client: httpx.AsyncClient, actors: Actors) -> None:
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    until = (datetime.now(UTC) + timedelta(days=729)).replace(microsecond=0)
    body = await grant(
        client, leaver, partner.organisation_id, ["contact"], expires_at=until.isoformat()
    )
    assert datetime.fromisoformat(body["expires_at"]) == until


async def test_list_every_status_newest_first_and_paginated(
    client: httpx.AsyncClient, actors: Actors, db: Database
) -> None:
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    made = [
        await grant(client, leaver, partner.organisation_id, [p])
        for p in ("contact", "identity", "release")
    ]
    await revoke(client, leaver, made[0]["id"])
    # Expire the second one by moving its dates into the past.
    async with db.sessionmaker() as session:
        await session.execute(
            text(
                "UPDATE consent_grants SET granted_at = now() - interval '2 days', "
                "expires_at = now() - interval '1 day' WHERE id = :id"
            ),
            {"id": made[1]["id"]},
        )
        await session.commit()
    listed = (await client.get("/v1/me/consents", headers=leaver.headers)).json()
    assert [g["id"] for g in listed["items"]] == [made[2]["id"], made[0]["id"], made[1]["id"]]
    assert [g["status"] for g in listed["items"]] == ["active", "revoked", "expired"]
    assert listed["next_cursor"] is None
    for status, expected in (("active", 2), ("revoked", 0), ("expired", 1)):
        page = (await client.get(f"/v1/me/consents?status={status}", headers=leaver.headers)).json()
        assert [g["id"] for g in page["items"]] == [made[expected]["id"]]
    first = (await client.get("/v1/me/consents?limit=2", headers=leaver.headers)).json()
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    second = (
        await client.get(
            f"/v1/me/consents?limit=2&cursor={first['next_cursor']}", headers=leaver.headers
        )
    ).json()
    assert [g["id"] for g in first["items"] + second["items"]] == [g["id"] for g in listed["items"]]
    assert second["next_cursor"] is None
    assert (await client.get("/v1/me/consents?limit=0", headers=leaver.headers)).status_code == 422
    assert (
        await client.get("/v1/me/consents?limit=101", headers=leaver.headers)
    ).status_code == 422
    assert (
        await client.get("/v1/me/consents?cursor=zzz", headers=leaver.headers)
    ).status_code == 422


async def test_revoke_is_idempotent(client: httpx.AsyncClient, actors: Actors) -> None:
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    made = await grant(client, leaver, partner.organisation_id, ["contact"])
    first = await revoke(client, leaver, made["id"])
    assert first.status_code == 200
    assert first.json()["status"] == "revoked"
    assert first.json()["revoked_at"]
    second = await revoke(client, leaver, made["id"])
    assert second.status_code == 200
    assert second.json() == first.json()
    assert first.json()["receipt"] == made["receipt"]


async def test_revoking_an_unknown_or_malformed_grant_is_404(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    leaver = await make_leaver(client, actors)
    assert (await revoke(client, leaver, str(uuid.uuid4()))).status_code == 404
    assert (await revoke(client, leaver, "not-a-uuid")).status_code == 404
