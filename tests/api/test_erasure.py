"""Erasure (API.md §10): ``DELETE /v1/me`` leaves nothing of the profile to be read.

Every leaf of the profile holds a sentinel (``full_document``), and so do the leaver's
referral message and the provider's note to them. After erasure, every GET the partner,
the provider and the leaver's old token can reach is called and searched for the
sentinel, and so are the database rows the profile owned.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import jwt
from fastapi import FastAPI
from jwt.algorithms import ECAlgorithm
from sqlalchemy import text

from tests.api.consent_helpers import PIN, Leaver, grant, kiosk, make_leaver, revoke
from tests.api.referral_helpers import make_provider, move, publish, referred
from tests.api.webhook_helpers import register
from tests.pages.helpers import page_client, sign_in
from tests.support import Actors

SENTINEL = "SENTINEL"
PIN_GRANT = "urn:onward:grant-type:leaver-pin"


async def _verify(client: httpx.AsyncClient, compact: str) -> dict[str, Any]:
    """Verified with PyJWT and the served JWKS only (a third-party JOSE library)."""
    jwks = (await client.get("/.well-known/jwks.json")).json()
    header = jwt.get_unverified_header(compact)
    assert header["typ"] == "consent-receipt+jwt"
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    payload: dict[str, Any] = jwt.decode(
        compact,
        ECAlgorithm.from_jwk(key),  # type: ignore[arg-type]
        algorithms=["ES256"],
        options={"verify_aud": False, "verify_exp": False, "verify_iat": False},
    )
    return payload


async def _etag(client: httpx.AsyncClient, leaver: Leaver) -> str:
    r = await client.get("/v1/me", headers=leaver.headers)
    assert r.status_code == 200, r.text
    return r.headers["ETag"]


async def _erase(client: httpx.AsyncClient, leaver: Leaver) -> dict[str, Any]:
    etag = await _etag(client, leaver)
    r = await client.delete("/v1/me", headers={**leaver.headers, "If-Match": etag})
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = r.json()
    return body


async def test_erasure_needs_if_match(client: httpx.AsyncClient, actors: Actors) -> None:
    leaver = await make_leaver(client, actors)
    missing = await client.delete("/v1/me", headers=leaver.headers)
    assert missing.status_code == 428
    assert missing.headers["content-type"].startswith("application/problem+json")
    stale = await client.delete("/v1/me", headers={**leaver.headers, "If-Match": '"999"'})
    assert stale.status_code == 412
    # Neither erased anything.
    me = await client.get("/v1/me", headers=leaver.headers)
    assert me.status_code == 200
    assert me.json()["data"]["identity"]["given_name"].startswith(SENTINEL)


def _get_paths(spec: dict[str, Any]) -> list[str]:
    return [
        path
        for path, methods in spec["paths"].items()
        if "get" in methods and not path.startswith(("/docs", "/redoc"))
    ]


def _fill(path: str, ids: dict[str, str]) -> list[str]:
    """``path`` with each ``{param}`` replaced by every known id (the profile's, the
    referral's, the grants', the organisations', the offer's …)."""
    params = re.findall(r"\{([^}]+)\}", path)
    if not params:
        return [path]
    filled = []
    for value in ids.values():
        concrete = path
        for param in params:
            concrete = concrete.replace("{" + param + "}", value)
        filled.append(concrete)
    return filled


async def _sweep(
    client: httpx.AsyncClient, spec: dict[str, Any], headers: dict[str, str], ids: dict[str, str]
) -> dict[str, int]:
    """Every GET with every id, as one caller; no answer may hold a sentinel."""
    seen: dict[str, int] = {}
    for path in _get_paths(spec):
        for concrete in _fill(path, ids):
            r = await client.get(concrete, headers=headers)
            assert SENTINEL not in r.text, (concrete, r.status_code, r.text[:300])
            seen[concrete] = r.status_code
    return seen


async def _rows_with_sentinels(app: FastAPI, profile_id: str) -> list[str]:
    """Every database row the profile owned, as text, that still holds a sentinel."""
    queries = {
        "profiles": "SELECT t::text FROM profiles t WHERE id = :id",
        "progress_readings": "SELECT t::text FROM progress_readings t WHERE profile_id = :id",
        "referrals": "SELECT t::text FROM referrals t WHERE profile_id = :id",
        "referral_events": "SELECT t::text FROM referral_events t WHERE referral_id IN "
        "(SELECT id FROM referrals WHERE profile_id = :id)",
        "access_events": "SELECT t::text FROM access_events t WHERE profile_id = :id",
        "disclosure_cuts": "SELECT t::text FROM disclosure_cuts t WHERE profile_id = :id",
        "consent_grants": "SELECT t::text FROM consent_grants t WHERE profile_id = :id",
        "profile_changes": "SELECT t::text FROM profile_changes t WHERE profile_id = :id",
        "webhook_deliveries": "SELECT t::text FROM webhook_deliveries t",
        "web_sessions": "SELECT t::text FROM web_sessions t WHERE profile_id = :id",
    }
    found = []
    async with app.state.db.sessionmaker() as session:
        for table, sql in queries.items():
            for (row,) in (await session.execute(text(sql), {"id": profile_id})).all():
                if SENTINEL in row:
                    found.append(f"{table}: {row[:200]}")
    return found


async def _pin_answer(client: httpx.AsyncClient, reference: str, pin: str) -> tuple[int, Any]:
    r = await client.post(
        "/oauth/token", data={"grant_type": PIN_GRANT, "reference": reference, "pin": pin}
    )
    return r.status_code, r.json()


async def test_after_erasure_nothing_of_the_profile_can_be_read(
    app: FastAPI, client: httpx.AsyncClient, actors: Actors
) -> None:
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read", "webhooks:manage")
    earlier = await actors.client("profiles:read", "webhooks:manage")
    provider = await make_provider(actors)
    hooks_actor = await actors.client(
        "webhooks:manage", organisation_id=provider.actor.organisation_id
    )
    everything = ["profile.shared", "profile.unshared", "profile.erased", "referral.withdrawn"]
    for who in (partner, earlier, hooks_actor):
        await register(client, who, "https://partner.example/hooks", everything)

    shared = await grant(
        client, leaver, partner.organisation_id, ["identity.given_name", "contact.phone"]
    )
    old = await grant(client, leaver, earlier.organisation_id, ["contact.phone"])
    assert (await revoke(client, leaver, old["id"])).status_code == 200
    offer = await publish(client, provider)
    referral = await referred(client, leaver, offer, message=f"{SENTINEL}-message")
    moved = await move(client, provider, referral["id"], "accepted", note=f"{SENTINEL}-note")
    assert moved.status_code == 200, moved.text
    progress = await client.post(
        "/v1/me/progress", json={"readings": {"accommodation": 4}}, headers=leaver.headers
    )
    assert progress.status_code == 201, progress.text
    # Before: the partner sees its leaves (the sweep below would catch them).
    before = await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)
    assert before.status_code == 200
    assert SENTINEL in before.text

    erased = await _erase(client, leaver)

    # The erasure receipt and every revocation receipt verify with the JWKS alone.
    claims = await _verify(client, erased["receipt"])
    assert claims["type"] == "erasure"
    assert claims["sub"] == leaver.id
    assert claims["erased_at"].replace("Z", "+00:00") == erased["erased_at"].replace("Z", "+00:00")
    assert claims["iss"] == "http://testserver"
    assert isinstance(claims["iat"], int)
    assert set(claims["controller"]) == {"name", "contact"}
    assert claims["policy_url"].startswith("https://")
    assert set(claims["revoked_grants"]) == {shared["id"], referral["grant_id"]}
    assert claims["withdrawn_referrals"] == [referral["id"]]
    assert erased["withdrawn_referrals"] == [referral["id"]]
    assert {g["id"] for g in erased["revoked_grants"]} == {shared["id"], referral["grant_id"]}
    for revoked in erased["revoked_grants"]:
        payload = await _verify(client, revoked["revocation_receipt"])
        assert payload["grant_id"] == revoked["id"]
        assert payload["sub"] == leaver.id
        assert "revoked_at" in payload

    # Partner reads answer 404; the old self token 401 invalid_token everywhere.
    gone = await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)
    assert gone.status_code == 404
    me = await client.get("/v1/me", headers=leaver.headers)
    assert me.status_code == 401
    assert 'error="invalid_token"' in me.headers["WWW-Authenticate"]
    again = await client.delete("/v1/me", headers={**leaver.headers, "If-Match": "*"})
    assert again.status_code == 401

    # The provider keeps the referral: withdrawn, its status history, no message or note.
    kept = await client.get(f"/v1/referrals/{referral['id']}", headers=provider.headers)
    assert kept.status_code == 200, kept.text
    body = kept.json()
    assert body["status"] == "withdrawn"
    assert body["message"] is None
    assert [h["status"] for h in body["history"]] == ["pending", "accepted", "withdrawn"]
    assert all(h["note"] is None for h in body["history"])

    # Every GET, as every caller that could once see something, with every id.
    spec = (await client.get("/openapi.json")).json()
    ids = {
        "profile": leaver.id,
        "referral": referral["id"],
        "grant": shared["id"],
        "offer": offer["id"],
        "partner": str(partner.organisation_id),
        "provider": provider.organisation_id,
    }
    for headers in (partner.headers, provider.headers, leaver.headers, hooks_actor.headers):
        await _sweep(client, spec, headers, ids)
    fresh = actors.leaver_headers(leaver.id)  # even a token issued after erasure
    seen = await _sweep(client, spec, fresh, ids)
    assert seen["/v1/me"] == 401
    assert seen["/v1/me/export"] == 401

    # Nothing in the database either; the access log is kept, with the erasure in it.
    assert await _rows_with_sentinels(app, leaver.id) == []
    async with app.state.db.sessionmaker() as session:
        actions = (
            await session.execute(
                text("SELECT action FROM access_events WHERE profile_id = :id"),
                {"id": leaver.id},
            )
        ).scalars()
        assert "profile.erased" in set(actions)
        assert (
            await session.execute(
                text("SELECT count(*) FROM progress_readings WHERE profile_id = :id"),
                {"id": leaver.id},
            )
        ).scalar_one() == 0
        profile = (
            await session.execute(
                text("SELECT data, pin_hash, erased_at FROM profiles WHERE id = :id"),
                {"id": leaver.id},
            )
        ).one()
        assert profile.data == {}
        assert profile.pin_hash is None
        assert profile.erased_at is not None
        outbox = (
            await session.execute(
                text(
                    "SELECT w.organisation_id::text AS org, d.type, d.body "
                    "FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
                )
            )
        ).all()
    events: dict[str, set[str]] = {}
    for row in outbox:
        if leaver.id in row.body:
            events.setdefault(row.org, set()).add(row.type)
    assert {"profile.erased", "profile.unshared"} <= events[str(partner.organisation_id)]
    assert {"profile.erased", "profile.unshared", "referral.withdrawn"} <= events[
        provider.organisation_id
    ]
    # The organisation whose grant had already ended is not told of the erasure.
    assert "profile.erased" not in events.get(str(earlier.organisation_id), set())

    # The partner's change feed gets `unshared` (the feed serves only committed
    # transactions' items, so read the rows this test's transaction wrote).
    async with app.state.db.sessionmaker() as session:
        changes = (
            await session.execute(
                text(
                    "SELECT type FROM profile_changes WHERE profile_id = :id "
                    "AND organisation_id = :org ORDER BY seq"
                ),
                {"id": leaver.id, "org": partner.organisation_id},
            )
        ).scalars()
        assert list(changes)[-1] == "unshared"


async def test_an_erased_reference_answers_like_a_wrong_pin(
    app: FastAPI, client: httpx.AsyncClient, actors: Actors
) -> None:
    the_kiosk = await kiosk(actors)
    leaver = await make_leaver(client, actors, kiosk_actor=the_kiosk)
    other = await make_leaver(client, actors)
    wrong = await _pin_answer(client, other.reference, "135799")
    assert (await _pin_answer(client, leaver.reference, PIN))[0] == 200
    await _erase(client, leaver)
    assert await _pin_answer(client, leaver.reference, PIN) == wrong
    assert await _pin_answer(client, "ONW-0000-0000", PIN) == wrong

    # The kiosk cannot give an erased reference a new PIN (404 as for an unknown one).
    reset = await client.post(
        "/v1/profiles/pin-reset",
        json={"reference": leaver.reference, "pin": "975310"},
        headers=the_kiosk.headers,
    )
    assert reset.status_code == 404
    assert await _pin_answer(client, leaver.reference, "975310") == wrong

    # The leaver's pages: the same answer as a wrong PIN.
    async with page_client(app) as browser:
        erased_page = await sign_in(browser, leaver.reference, PIN)
    async with page_client(app) as browser:
        wrong_page = await sign_in(browser, other.reference, "135799")
    assert erased_page.status_code == wrong_page.status_code
    assert "location" not in erased_page.headers
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", erased_page.text).replace(leaver.reference, "REF") == strip.sub(
        "", wrong_page.text
    ).replace(other.reference, "REF")


async def test_signed_in_pages_are_signed_out_by_erasure(
    app: FastAPI, client: httpx.AsyncClient, actors: Actors
) -> None:
    leaver = await make_leaver(client, actors)
    async with page_client(app) as browser:
        signed = await sign_in(browser, leaver.reference, PIN)
        assert signed.status_code == 303, signed.text
        assert (await browser.get("/account")).status_code == 200
        await _erase(client, leaver)
        after = await browser.get("/account")
        assert after.status_code == 303
        assert "/account/sign-in" in after.headers["location"]
        assert SENTINEL not in after.text
