"""Receipts for every consent decision (API.md §3), verified with PyJWT and the JWKS only.

A leaver holding receipts can prove what they agreed to and when they stopped with
nothing but the published keys: so these tests use a third-party JOSE library (PyJWT)
and the JWKS as served, never our own verification code.
"""

from __future__ import annotations

from typing import Any

import httpx
import jwt
from jwt.algorithms import ECAlgorithm

from tests.api.consent_helpers import grant, make_leaver, revoke
from tests.support import Actors


async def _verify(client: httpx.AsyncClient, compact: str) -> tuple[dict[str, Any], dict[str, Any]]:
    jwks = (await client.get("/.well-known/jwks.json")).json()
    header = jwt.get_unverified_header(compact)
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    public = ECAlgorithm.from_jwk(key)
    payload = jwt.decode(
        compact,
        public,  # type: ignore[arg-type]
        algorithms=["ES256"],
        options={"verify_aud": False, "verify_exp": False, "verify_iat": False},
    )
    return header, payload


async def test_a_consent_receipt_names_the_controller_and_how_it_was_given(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    body = await grant(client, leaver, partner.organisation_id, ["contact.phone"])
    header, payload = await _verify(client, body["receipt"])
    assert header["typ"] == "consent-receipt+jwt"
    assert header["alg"] == "ES256"
    assert payload["grant_id"] == body["id"]
    assert payload["sub"] == leaver.id
    assert payload["recipient"] == {
        "id": str(partner.organisation_id),
        "name": partner.organisation_name,
    }
    assert payload["fields"] == ["contact.phone"]
    assert set(payload["controller"]) == {"name", "contact"}
    assert payload["policy_url"].startswith("https://")
    assert payload["collection_method"] == "api"
    assert "assisted_by" not in payload
    assert body["revocation_receipt"] is None


async def test_revoking_yields_a_revocation_receipt_once(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    body = await grant(client, leaver, partner.organisation_id, ["contact.phone"])
    first = (await revoke(client, leaver, body["id"])).json()
    assert first["status"] == "revoked"
    header, payload = await _verify(client, first["revocation_receipt"])
    assert header["typ"] == "consent-receipt+jwt"
    assert payload["grant_id"] == body["id"]
    assert payload["sub"] == leaver.id
    assert payload["recipient"]["id"] == str(partner.organisation_id)
    assert payload["revoked_at"].replace("Z", "+00:00") == first["revoked_at"].replace(
        "Z", "+00:00"
    )
    assert isinstance(payload["iat"], int)
    assert payload["iss"] == "http://testserver"
    # Revoking again changes nothing: the same time, the same receipt.
    again = (await revoke(client, leaver, body["id"])).json()
    assert again["revocation_receipt"] == first["revocation_receipt"]
    listed = (await client.get("/v1/me/consents", headers=leaver.headers)).json()["items"]
    assert listed[0]["revocation_receipt"] == first["revocation_receipt"]


async def test_a_withdrawn_referral_leaves_a_revocation_receipt(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    from tests.api.referral_helpers import referred, scene

    s = await scene(client, actors, required_fields=["contact.phone"])
    referral = await referred(client, s.leaver, s.offer)
    r = await client.post(f"/v1/me/referrals/{referral['id']}/withdraw", headers=s.leaver.headers)
    assert r.status_code == 200
    grants = (await client.get("/v1/me/consents", headers=s.leaver.headers)).json()["items"]
    (mine,) = [g for g in grants if g["id"] == referral["grant_id"]]
    _, payload = await _verify(client, mine["revocation_receipt"])
    assert payload["grant_id"] == referral["grant_id"]
    _, given = await _verify(client, mine["receipt"])
    assert given["collection_method"] == "referral"
