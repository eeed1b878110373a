"""Referrals share what the leaver was shown, once per offer, and every provider look at
one is in the leaver's access log (API.md §3, §5, §8's ``collection_method``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tests.api.consent_helpers import make_leaver
from tests.api.offers_helpers import offer_body
from tests.api.referral_helpers import (
    OMIT,
    Scene,
    make_provider,
    move,
    publish,
    refer,
    referred,
    scene,
)
from tests.conftest import problem
from tests.support import Actors

SENSITIVE = ["story", "offence", "needs"]


async def _access_log(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = await client.get("/v1/me/access-log", headers=headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def _nothing_created(client: httpx.AsyncClient, s: Scene) -> None:
    """No referral, no grant, nothing for the provider to read."""
    mine = (await client.get("/v1/me/referrals", headers=s.leaver.headers)).json()["items"]
    assert mine == []
    grants = (await client.get("/v1/me/consents", headers=s.leaver.headers)).json()["items"]
    assert grants == []
    theirs = (await client.get("/v1/referrals", headers=s.provider.headers)).json()["items"]
    assert theirs == []
    read = await client.get(f"/v1/profiles/{s.leaver.id}", headers=s.provider.headers)
    assert read.status_code == 404


# --- consent is bound to what the leaver was shown ------------------------------------


async def test_an_offer_changed_after_the_leaver_looked_cannot_take_more(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    """The leak this closes: a provider publishes an offer asking for a name, the leaver
    looks, the provider replaces the offer to ask for story, offence and needs; a referral
    (explicit: true, no fields) used to hand all of that over."""
    s = await scene(client, actors, required_fields=["identity.given_name"])
    shown = (await client.get(f"/v1/offers/{s.offer['id']}")).json()
    assert shown["required_fields"] == ["identity.given_name"]

    replaced = await client.put(
        f"/v1/offers/{s.offer['id']}",
        json=offer_body(required_fields=SENSITIVE),
        headers={**s.provider.headers, "If-Match": f'"{shown["version"]}"'},
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["version"] != shown["version"]

    # The request that used to leak: no fields, no version, explicit consent.
    old_style = await client.post(
        "/v1/me/referrals",
        json={"offer_id": s.offer["id"], "explicit": True},
        headers=s.leaver.headers,
    )
    assert old_style.status_code == 422
    assert {tuple(e["loc"]) for e in problem(old_style)["errors"]} == {
        ("body", "fields"),
        ("body", "offer_version"),
    }
    await _nothing_created(client, s)

    # What the leaver saw and agreed to, against the offer as it is now: 412, nothing made.
    stale = await refer(client, s.leaver, shown, explicit=True)
    assert stale.status_code == 412
    doc = problem(stale)
    assert doc["type"].endswith("/precondition-failed")
    await _nothing_created(client, s)
    assert await _access_log(client, s.leaver.headers) == []

    # Shown the offer again, the leaver still shares only their name.
    current = (await client.get(f"/v1/offers/{s.offer['id']}")).json()
    made = await referred(client, s.leaver, current, fields=["identity.given_name"])
    grants = (await client.get("/v1/me/consents", headers=s.leaver.headers)).json()["items"]
    assert [(g["id"], g["fields"]) for g in grants] == [(made["grant_id"], ["identity.given_name"])]
    seen = await client.get(f"/v1/profiles/{s.leaver.id}", headers=s.provider.headers)
    assert seen.status_code == 200
    assert seen.json()["data"] == {"identity": {"given_name": "SENTINEL-given"}}
    assert "SENTINEL-story" not in seen.text
    assert "SENTINEL-offence" not in seen.text


async def test_fields_and_offer_version_are_required(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors)
    no_fields = await refer(client, s.leaver, s.offer, fields=OMIT)
    assert no_fields.status_code == 422
    assert [e["loc"] for e in problem(no_fields)["errors"]] == [["body", "fields"]]
    no_version = await refer(client, s.leaver, s.offer, offer_version=OMIT)
    assert no_version.status_code == 422
    assert [e["loc"] for e in problem(no_version)["errors"]] == [["body", "offer_version"]]
    for bad in ("1", 0, -1, 1.5, None, 2**40):
        r = await refer(client, s.leaver, s.offer, offer_version=bad)
        assert r.status_code == 422, bad
        assert problem(r)["errors"][0]["loc"] == ["body", "offer_version"]
    await _nothing_created(client, s)


async def test_a_newer_or_older_version_is_412_and_the_current_one_works(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors)
    assert s.offer["version"] == 1
    ahead = await refer(client, s.leaver, s.offer, offer_version=2)
    assert ahead.status_code == 412
    await _nothing_created(client, s)
    # A change that asks for less is a change all the same: the leaver is shown it again.
    replaced = await client.put(
        f"/v1/offers/{s.offer['id']}",
        json=offer_body(required_fields=["contact.phone"]),
        headers={**s.provider.headers, "If-Match": '"1"'},
    )
    assert replaced.status_code == 200
    behind = await refer(client, s.leaver, s.offer, fields=["contact.phone"])
    assert behind.status_code == 412
    await _nothing_created(client, s)
    ok = await refer(client, s.leaver, replaced.json())
    assert ok.status_code == 201, ok.text


async def test_unknown_and_sensitive_paths_are_refused_as_a_grant_would_be(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors, required_fields=["contact.phone", *SENSITIVE])
    unknown = await refer(client, s.leaver, s.offer, fields=["contact.phone", "story.secret"])
    assert unknown.status_code == 422
    assert problem(unknown)["errors"][0]["loc"] == ["body", "fields", 1]
    assert "story.secret" not in unknown.text
    for fields in (["story"], ["offence.category"], ["needs.health"], SENSITIVE):
        r = await refer(client, s.leaver, s.offer, fields=fields)
        assert r.status_code == 422
        as_grant = await client.post(
            "/v1/me/consents",
            json={
                "organisation_id": s.provider.organisation_id,
                "fields": fields,
                "purpose": "referral",
            },
            headers=s.leaver.headers,
        )
        assert as_grant.status_code == 422
        assert problem(r)["type"].endswith("/explicit-consent-required")
        assert {k: problem(r)[k] for k in ("type", "errors")} == {
            k: problem(as_grant)[k] for k in ("type", "errors")
        }
    await _nothing_created(client, s)


async def test_the_grant_receipt_says_it_was_made_by_a_referral(
    client: httpx.AsyncClient, actors: Actors, app: FastAPI
) -> None:
    s = await scene(client, actors)
    made = await referred(client, s.leaver, s.offer, fields=["contact.phone"])
    grants = (await client.get("/v1/me/consents", headers=s.leaver.headers)).json()["items"]
    payload = app.state.tokens.verify_detached_jws(grants[0]["receipt"])
    assert payload["grant_id"] == made["grant_id"]
    assert payload["purpose"] == "referral"
    assert payload["fields"] == ["contact.phone"]
    assert payload["collection_method"] == "referral"
    plain = await client.post(
        "/v1/me/consents",
        json={
            "organisation_id": s.provider.organisation_id,
            "fields": ["contact.email"],
            "purpose": "support_delivery",
        },
        headers=s.leaver.headers,
    )
    assert plain.status_code == 201
    assert app.state.tokens.verify_detached_jws(plain.json()["receipt"])["collection_method"] == (
        "api"
    )


# --- one open referral per leaver per offer -------------------------------------------


async def test_a_second_open_referral_to_the_same_offer_is_409(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors)
    first = await referred(client, s.leaver, s.offer, message="first")
    for step in (None, "accepted", "in_progress"):
        if step is not None:
            assert (await move(client, s.provider, first["id"], step)).status_code == 200
        again = await refer(client, s.leaver, s.offer, fields=["contact.phone"])
        assert again.status_code == 409, step
        assert problem(again)["type"].endswith("/conflict")
    # Nothing more was created by the refusals.
    mine = (await client.get("/v1/me/referrals", headers=s.leaver.headers)).json()["items"]
    assert [r["id"] for r in mine] == [first["id"]]
    grants = (await client.get("/v1/me/consents", headers=s.leaver.headers)).json()["items"]
    assert [g["id"] for g in grants] == [first["grant_id"]]
    # Another leaver, and another offer, are not affected.
    other = await make_leaver(client, actors)
    assert (await refer(client, other, s.offer)).status_code == 201
    assert (await refer(client, s.leaver, await publish(client, s.provider))).status_code == 201


@pytest.mark.parametrize("ending", ["withdrawn", "declined", "closed", "completed"])
async def test_once_a_referral_has_ended_the_leaver_may_ask_again(
    client: httpx.AsyncClient, actors: Actors, ending: str
) -> None:
    s = await scene(client, actors)
    first = await referred(client, s.leaver, s.offer)
    if ending == "withdrawn":
        w = await client.post(f"/v1/me/referrals/{first['id']}/withdraw", headers=s.leaver.headers)
        assert w.status_code == 200
    else:
        path = {"declined": [], "closed": ["accepted"], "completed": ["accepted", "in_progress"]}
        for step in [*path[ending], ending]:
            assert (await move(client, s.provider, first["id"], step)).status_code == 200
    second = await refer(client, s.leaver, s.offer)
    assert second.status_code == 201, second.text
    assert (await refer(client, s.leaver, s.offer)).status_code == 409


async def test_the_database_holds_one_open_referral_per_leaver_and_offer(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    """The rule holds below the service too: reopening a withdrawn referral beside an open
    one breaks the partial unique index."""
    s = await scene(client, actors)
    first = await referred(client, s.leaver, s.offer)
    await client.post(f"/v1/me/referrals/{first['id']}/withdraw", headers=s.leaver.headers)
    await referred(client, s.leaver, s.offer)
    async with actors.db.sessionmaker() as session:
        with pytest.raises(IntegrityError, match="uq_referrals_profile_offer_open"):
            await session.execute(
                text("UPDATE referrals SET status = 'accepted' WHERE id = :id"),
                {"id": first["id"]},
            )


# --- the provider's reads are in the leaver's access log ------------------------------


async def test_opening_a_referral_is_logged_for_the_leaver(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors)
    made = await referred(client, s.leaver, s.offer, message="Please call after 2pm.")
    # The leaver's own reads are not access events.
    await client.get(f"/v1/me/referrals/{made['id']}", headers=s.leaver.headers)
    await client.get("/v1/me/referrals", headers=s.leaver.headers)
    assert await _access_log(client, s.leaver.headers) == []

    r = await client.get(f"/v1/referrals/{made['id']}", headers=s.provider.headers)
    assert r.status_code == 200
    assert r.json()["message"] == "Please call after 2pm."
    log = await _access_log(client, s.leaver.headers)
    assert len(log) == 1
    event = log[0]
    assert event["action"] == "referral.read"
    assert event["organisation"] == {
        "id": s.provider.organisation_id,
        "name": s.provider.actor.organisation_name,
    }
    assert event["client_id"] == s.provider.actor.client_id
    assert event["fields"] == ["referral.message"]
    assert event["grant_ids"] == [made["grant_id"]]


async def test_a_list_logs_one_event_per_referral_it_shows(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors)
    other = await make_leaver(client, actors)
    with_message = await referred(client, s.leaver, s.offer, message="Hello")
    without = await referred(client, other, s.offer)
    listed = await client.get("/v1/referrals", headers=s.provider.headers)
    assert [i["id"] for i in listed.json()["items"]] == [without["id"], with_message["id"]]
    mine = await _access_log(client, s.leaver.headers)
    theirs = await _access_log(client, other.headers)
    assert [(e["action"], e["fields"], e["grant_ids"]) for e in mine] == [
        ("referral.read", ["referral.message"], [with_message["grant_id"]])
    ]
    # No message, nothing of it disclosed.
    assert [(e["action"], e["fields"], e["grant_ids"]) for e in theirs] == [
        ("referral.read", [], [without["grant_id"]])
    ]
    # A page that shows only the other leaver's referral logs nothing for this one.
    await client.get("/v1/referrals", params={"limit": 1}, headers=s.provider.headers)
    assert len(await _access_log(client, s.leaver.headers)) == 1
    assert len(await _access_log(client, other.headers)) == 2


async def test_what_a_provider_may_not_see_logs_nothing(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors)
    made = await referred(client, s.leaver, s.offer, message="Hello")
    stranger = await make_provider(actors)
    assert (
        await client.get(f"/v1/referrals/{made['id']}", headers=stranger.headers)
    ).status_code == 404
    assert (await client.get("/v1/referrals", headers=stranger.headers)).json()["items"] == []
    assert (await move(client, stranger, made["id"], "accepted")).status_code == 404
    assert await _access_log(client, s.leaver.headers) == []


async def test_a_status_move_shows_the_referral_and_is_logged(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors)
    made = await referred(client, s.leaver, s.offer, message="Hello")
    accepted = await move(client, s.provider, made["id"], "accepted")
    assert accepted.json()["message"] == "Hello"
    log = await _access_log(client, s.leaver.headers)
    assert [(e["action"], e["fields"]) for e in log] == [("referral.read", ["referral.message"])]


# --- once the grant has ended, the message is withheld --------------------------------


async def _end_by_leaver(
    client: httpx.AsyncClient, s: Scene, made: dict[str, Any], how: str
) -> None:
    if how == "withdrawn":
        url = f"/v1/me/referrals/{made['id']}/withdraw"
    else:
        url = f"/v1/me/consents/{made['grant_id']}/revoke"
    assert (await client.post(url, headers=s.leaver.headers)).status_code == 200


@pytest.mark.parametrize(
    "how",
    ["withdrawn", "grant revoked", "grant expired", "declined", "closed", "completed"],
)
async def test_once_the_grant_has_ended_the_provider_sees_no_message(
    client: httpx.AsyncClient, actors: Actors, how: str
) -> None:
    s = await scene(client, actors)
    made = await referred(client, s.leaver, s.offer, message="SENTINEL-message")
    if how in ("withdrawn", "grant revoked"):
        await _end_by_leaver(client, s, made, how)
    elif how == "grant expired":
        async with actors.db.sessionmaker() as session:
            await session.execute(
                text(
                    "UPDATE consent_grants SET granted_at = now() - interval '2 days', "
                    "expires_at = now() - interval '1 day' WHERE id = :id"
                ),
                {"id": made["grant_id"]},
            )
            await session.commit()
    else:
        path = {"declined": [], "closed": ["accepted"], "completed": ["accepted", "in_progress"]}
        for step in path[how]:
            assert (await move(client, s.provider, made["id"], step)).status_code == 200
        ended = await move(client, s.provider, made["id"], how)
        assert ended.status_code == 200
        assert ended.json()["message"] is None
        assert "SENTINEL-message" not in ended.text
    before = len(await _access_log(client, s.leaver.headers))

    one = await client.get(f"/v1/referrals/{made['id']}", headers=s.provider.headers)
    listed = await client.get("/v1/referrals", headers=s.provider.headers)
    for body in (one.json(), listed.json()["items"][0]):
        assert body["id"] == made["id"]
        assert body["message"] is None
        assert body["history"][0]["status"] == "pending"
    assert "SENTINEL-message" not in one.text + listed.text
    expected_status = {"grant revoked": "pending", "grant expired": "pending"}.get(how, how)
    assert one.json()["status"] == expected_status

    # Both reads are logged, disclosing no message.
    log = await _access_log(client, s.leaver.headers)
    assert [(e["action"], e["fields"]) for e in log[: len(log) - before]] == [
        ("referral.read", []),
        ("referral.read", []),
    ]
    # The leaver still sees their own words.
    mine = await client.get(f"/v1/me/referrals/{made['id']}", headers=s.leaver.headers)
    assert mine.json()["message"] == "SENTINEL-message"
