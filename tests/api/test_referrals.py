"""Referrals over HTTP (API.md §5): asking, working, tracking, withdrawing, capacity."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text

from app.db import Database
from tests.api.consent_helpers import make_leaver
from tests.api.referral_helpers import (
    REQUIRED,
    make_provider,
    move,
    publish,
    refer,
    referred,
    scene,
)
from tests.conftest import problem
from tests.support import Actors

# --- asking ---------------------------------------------------------------------------


async def test_create_shares_exactly_the_fields_sent(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors)
    r = await refer(client, s.leaver, s.offer, fields=REQUIRED, message="I get out on Friday.")
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["status"] == "pending"
    assert body["offer"] == {"id": s.offer["id"], "title": s.offer["title"]}
    assert body["organisation"] == {
        "id": s.provider.organisation_id,
        "name": s.provider.actor.organisation_name,
    }
    assert body["message"] == "I get out on Friday."
    assert body["history"] == [{"status": "pending", "at": body["created_at"], "note": None}]
    assert "profile_id" not in body

    consents = (await client.get("/v1/me/consents", headers=s.leaver.headers)).json()["items"]
    assert [(g["id"], g["purpose"], g["fields"], g["status"]) for g in consents] == [
        (body["grant_id"], "referral", REQUIRED, "active")
    ]
    assert consents[0]["organisation"]["id"] == s.provider.organisation_id


async def test_provider_reads_exactly_the_referred_fields_and_the_read_is_logged(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors)
    referral = await referred(client, s.leaver, s.offer)
    r = await client.get(f"/v1/profiles/{s.leaver.id}", headers=s.provider.headers)
    assert r.status_code == 200, r.text
    seen = r.json()
    assert seen["grant_ids"] == [referral["grant_id"]]
    assert set(seen["data"]) == {"identity", "contact", "release"}
    assert set(seen["data"]["identity"]) == {"given_name"}
    assert set(seen["data"]["release"]) == {"expected_at"}
    assert set(seen["data"]["contact"]) == {
        "phone",
        "email",
        "address",
        "preferred_method",
        "best_times",
    }
    log = (await client.get("/v1/me/access-log", headers=s.leaver.headers)).json()["items"]
    assert len(log) == 1
    assert log[0]["organisation"]["id"] == s.provider.organisation_id
    assert log[0]["client_id"] == s.provider.actor.client_id
    assert log[0]["grant_ids"] == [referral["grant_id"]]


async def test_a_narrower_set_shares_only_what_the_leaver_picked(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors)
    referral = await referred(client, s.leaver, s.offer, fields=["contact.phone"])
    consents = (await client.get("/v1/me/consents", headers=s.leaver.headers)).json()["items"]
    assert consents[0]["id"] == referral["grant_id"]
    assert consents[0]["fields"] == ["contact.phone"]
    seen = (await client.get(f"/v1/profiles/{s.leaver.id}", headers=s.provider.headers)).json()
    assert seen["data"] == {"contact": {"phone": "07700 900123"}}
    assert seen["disclosed_fields"] == ["contact.phone"]


async def test_sensitive_fields_need_explicit_consent(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors, required_fields=["contact.phone", "needs.health"])
    r = await refer(client, s.leaver, s.offer)
    assert r.status_code == 422
    doc = problem(r)
    assert doc["type"].endswith("/explicit-consent-required")
    assert [e["loc"] for e in doc["errors"]] == [["body", "fields", 1]]
    # The same answer as a grant of those fields gets.
    as_grant = await client.post(
        "/v1/me/consents",
        json={
            "organisation_id": s.provider.organisation_id,
            "fields": ["contact.phone", "needs.health"],
            "purpose": "referral",
        },
        headers=s.leaver.headers,
    )
    assert as_grant.status_code == 422
    assert problem(as_grant)["type"] == doc["type"]
    assert problem(as_grant)["errors"] == doc["errors"]
    # Nothing was created: no referral, no grant.
    assert (await client.get("/v1/me/referrals", headers=s.leaver.headers)).json()["items"] == []
    assert (await client.get("/v1/me/consents", headers=s.leaver.headers)).json()["items"] == []
    # A narrower, non-sensitive set needs no explicit consent.
    narrow = await refer(client, s.leaver, s.offer, fields=["contact.phone"])
    assert narrow.status_code == 201
    w = await client.post(
        f"/v1/me/referrals/{narrow.json()['id']}/withdraw", headers=s.leaver.headers
    )
    assert w.status_code == 200
    ok = await refer(client, s.leaver, s.offer, explicit=True)
    assert ok.status_code == 201, ok.text
    grant = next(
        g
        for g in (await client.get("/v1/me/consents", headers=s.leaver.headers)).json()["items"]
        if g["id"] == ok.json()["grant_id"]
    )
    assert grant["fields"] == ["contact.phone", "needs.health"]
    assert grant["explicit"] is True


@pytest.mark.parametrize(
    "overrides",
    [
        {"status": "draft"},
        {"status": "paused"},
        {"valid_until": (date.today() - timedelta(days=2)).isoformat()},
        {"valid_from": (date.today() + timedelta(days=2)).isoformat()},
    ],
)
async def test_an_offer_not_taking_referrals_is_refused_alike(
    client: httpx.AsyncClient, actors: Actors, overrides: dict[str, Any]
) -> None:
    s = await scene(client, actors, **overrides)
    r = await refer(client, s.leaver, s.offer)
    assert r.status_code == 422
    doc = problem(r)
    assert doc["errors"] == [
        {"loc": ["body", "offer_id"], "msg": "The offer does not exist or is not taking referrals"}
    ]
    assert (await client.get("/v1/me/consents", headers=s.leaver.headers)).json()["items"] == []


async def test_withdrawn_and_missing_offers_are_refused_alike(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors)
    deleted = await client.delete(f"/v1/offers/{s.offer['id']}", headers=s.provider.headers)
    assert deleted.status_code == 204
    missing = {**s.offer, "id": "3f2b2c1e-0000-4000-8000-000000000000"}
    answers = [
        await refer(client, s.leaver, s.offer),
        await refer(client, s.leaver, missing),
    ]
    assert [a.status_code for a in answers] == [422, 422]
    assert problem(answers[0])["errors"] == problem(answers[1])["errors"]


async def test_fields_are_validated_without_echoing(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors)
    unknown = await refer(client, s.leaver, s.offer, fields=["contact.phone", "secret.zx9"])
    assert unknown.status_code == 422
    assert problem(unknown)["errors"][0]["loc"] == ["body", "fields", 1]
    assert "zx9" not in unknown.text
    empty = await refer(client, s.leaver, s.offer, fields=[])
    assert empty.status_code == 422
    assert problem(empty)["errors"][0]["loc"] == ["body", "fields"]
    extra = await refer(client, s.leaver, s.offer, surprise=1)
    assert extra.status_code == 422
    long = await refer(client, s.leaver, s.offer, message="x" * 2001)
    assert long.status_code == 422
    assert "xxxx" not in long.text


async def test_an_offer_requiring_no_fields_asks_the_leaver_to_choose(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors, required_fields=[])
    r = await refer(client, s.leaver, s.offer)
    assert r.status_code == 422
    assert problem(r)["errors"][0]["loc"] == ["body", "fields"]
    assert (await refer(client, s.leaver, s.offer, fields=["contact"])).status_code == 201


async def test_scopes(client: httpx.AsyncClient, actors: Actors) -> None:
    s = await scene(client, actors)
    referral = await referred(client, s.leaver, s.offer)
    reader = await actors.client("referrals:read", organisation_id=s.provider.actor.organisation_id)
    assert (await client.get("/v1/referrals", headers=reader.headers)).status_code == 200
    r = await client.post(
        f"/v1/referrals/{referral['id']}/status",
        json={"status": "accepted"},
        headers=reader.headers,
    )
    assert r.status_code == 403
    assert 'scope="referrals:write"' in r.headers["www-authenticate"]
    assert (await client.get("/v1/referrals", headers=s.leaver.headers)).status_code == 403
    assert (await client.get("/v1/me/referrals", headers=reader.headers)).status_code == 403
    assert (await client.get("/v1/me/referrals")).status_code == 401


# --- working it -----------------------------------------------------------------------

LEGAL_PATHS = [
    ["accepted", "in_progress", "completed"],
    ["accepted", "in_progress", "closed"],
    ["accepted", "closed"],
    ["declined"],
]


@pytest.mark.parametrize("path", LEGAL_PATHS, ids="→".join)
async def test_every_legal_move_is_recorded_with_its_note(
    client: httpx.AsyncClient, actors: Actors, path: list[str]
) -> None:
    s = await scene(client, actors)
    referral = await referred(client, s.leaver, s.offer)
    for step in path:
        r = await move(client, s.provider, referral["id"], step, note=f"note for {step}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == step
        assert body["profile_id"] == s.leaver.id
        assert body["history"][-1]["status"] == step
        assert body["history"][-1]["note"] == f"note for {step}"
    mine = (await client.get(f"/v1/me/referrals/{referral['id']}", headers=s.leaver.headers)).json()
    assert mine["status"] == path[-1]
    history = mine["history"]
    assert [h["status"] for h in history] == ["pending", *path]
    assert [h["note"] for h in history] == [None, *(f"note for {step}" for step in path)]
    assert [h["at"] for h in history] == sorted(h["at"] for h in history)
    assert mine["updated_at"] == history[-1]["at"]
    # Terminal: nothing moves it further, not even the leaver.
    for target in ("accepted", "in_progress", "completed", "closed", "declined"):
        assert (await move(client, s.provider, referral["id"], target)).status_code == 409
    if path[-1] != "accepted":
        w = await client.post(
            f"/v1/me/referrals/{referral['id']}/withdraw", headers=s.leaver.headers
        )
        assert w.status_code == 409


@pytest.mark.parametrize(
    ("before", "target"),
    [
        ([], "in_progress"),
        ([], "completed"),
        ([], "closed"),
        ([], "pending"),
        ([], "withdrawn"),
        (["accepted"], "accepted"),
        (["accepted"], "pending"),
        (["accepted"], "completed"),
        (["accepted", "in_progress"], "accepted"),
        (["accepted", "in_progress"], "declined"),
    ],
)
async def test_illegal_moves_are_409_and_change_nothing(
    client: httpx.AsyncClient, actors: Actors, before: list[str], target: str
) -> None:
    s = await scene(client, actors)
    referral = await referred(client, s.leaver, s.offer)
    for step in before:
        assert (await move(client, s.provider, referral["id"], step)).status_code == 200
    r = await move(client, s.provider, referral["id"], target, note="should not stick")
    assert r.status_code == 409
    current = before[-1] if before else "pending"
    assert current in problem(r)["detail"]
    after = (await client.get(f"/v1/referrals/{referral['id']}", headers=s.provider.headers)).json()
    assert after["status"] == current
    assert len(after["history"]) == 1 + len(before)


async def test_an_unknown_status_is_422(client: httpx.AsyncClient, actors: Actors) -> None:
    s = await scene(client, actors)
    referral = await referred(client, s.leaver, s.offer)
    r = await move(client, s.provider, referral["id"], "done-ish")
    assert r.status_code == 422
    assert "done-ish" not in r.text


async def test_provider_lists_its_referrals_newest_first_with_filter_and_pages(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors)
    other_leaver = await make_leaver(client, actors)
    first = await referred(client, s.leaver, s.offer, message="first")
    second = await referred(client, other_leaver, s.offer)
    third = await referred(client, s.leaver, await publish(client, s.provider))
    await move(client, s.provider, second["id"], "accepted")
    listed = await client.get("/v1/referrals", headers=s.provider.headers)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [i["id"] for i in items] == [third["id"], second["id"], first["id"]]
    assert [i["profile_id"] for i in items] == [s.leaver.id, other_leaver.id, s.leaver.id]
    assert items[2]["message"] == "first"
    assert [i["offer"]["id"] for i in items[1:]] == [s.offer["id"], s.offer["id"]]
    assert [h["status"] for h in items[1]["history"]] == ["pending", "accepted"]
    pending = await client.get(
        "/v1/referrals", params={"status": "pending"}, headers=s.provider.headers
    )
    assert [i["id"] for i in pending.json()["items"]] == [third["id"], first["id"]]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/referrals", params=params, headers=s.provider.headers)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [third["id"], second["id"], first["id"]]
    assert (
        await client.get("/v1/referrals", params={"limit": 0}, headers=s.provider.headers)
    ).status_code == 422
    assert (
        await client.get("/v1/referrals", params={"cursor": "nope"}, headers=s.provider.headers)
    ).status_code == 422


# --- who may see what -----------------------------------------------------------------


async def test_another_organisation_cannot_see_or_move_a_referral(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors)
    referral = await referred(client, s.leaver, s.offer)
    stranger = await make_provider(actors)
    await referred(client, s.leaver, await publish(client, stranger))
    listed = (await client.get("/v1/referrals", headers=stranger.headers)).json()["items"]
    assert referral["id"] not in {i["id"] for i in listed}
    assert len(listed) == 1
    read = await client.get(f"/v1/referrals/{referral['id']}", headers=stranger.headers)
    assert read.status_code == 404
    moved = await move(client, stranger, referral["id"], "accepted")
    assert moved.status_code == 404
    missing = await client.get(
        "/v1/referrals/3f2b2c1e-0000-4000-8000-000000000000", headers=stranger.headers
    )
    assert problem(read) == problem(missing)
    assert (
        await client.get("/v1/referrals/not-a-uuid", headers=stranger.headers)
    ).status_code == 404
    after = (await client.get(f"/v1/referrals/{referral['id']}", headers=s.provider.headers)).json()
    assert after["status"] == "pending"


async def test_another_leaver_cannot_see_or_withdraw_a_referral(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors)
    referral = await referred(client, s.leaver, s.offer)
    other = await make_leaver(client, actors)
    assert (await client.get("/v1/me/referrals", headers=other.headers)).json()["items"] == []
    read = await client.get(f"/v1/me/referrals/{referral['id']}", headers=other.headers)
    assert read.status_code == 404
    w = await client.post(f"/v1/me/referrals/{referral['id']}/withdraw", headers=other.headers)
    assert w.status_code == 404
    assert (
        await client.post("/v1/me/referrals/nope/withdraw", headers=other.headers)
    ).status_code == 404
    mine = (await client.get(f"/v1/me/referrals/{referral['id']}", headers=s.leaver.headers)).json()
    assert mine["status"] == "pending"


# --- tracking and withdrawing ---------------------------------------------------------


@pytest.mark.parametrize("before", [[], ["accepted"], ["accepted", "in_progress"]])
async def test_withdraw_revokes_the_grant_at_once(
    client: httpx.AsyncClient, actors: Actors, before: list[str]
) -> None:
    s = await scene(client, actors)
    referral = await referred(client, s.leaver, s.offer)
    for step in before:
        assert (await move(client, s.provider, referral["id"], step)).status_code == 200
    profile_url = f"/v1/profiles/{s.leaver.id}"
    assert (await client.get(profile_url, headers=s.provider.headers)).status_code == 200

    w = await client.post(f"/v1/me/referrals/{referral['id']}/withdraw", headers=s.leaver.headers)
    assert w.status_code == 200, w.text
    body = w.json()
    assert body["status"] == "withdrawn"
    assert [h["status"] for h in body["history"]] == ["pending", *before, "withdrawn"]

    assert (await client.get(profile_url, headers=s.provider.headers)).status_code == 404
    grants = (await client.get("/v1/me/consents", headers=s.leaver.headers)).json()["items"]
    assert [(g["id"], g["status"]) for g in grants] == [(referral["grant_id"], "revoked")]
    # The provider still sees the referral, now withdrawn, and cannot move it.
    seen = await client.get(f"/v1/referrals/{referral['id']}", headers=s.provider.headers)
    assert seen.json()["status"] == "withdrawn"
    assert (await move(client, s.provider, referral["id"], "closed")).status_code == 409
    # Withdrawing again changes nothing.
    again = await client.post(
        f"/v1/me/referrals/{referral['id']}/withdraw", headers=s.leaver.headers
    )
    assert again.status_code == 200
    assert again.json() == body


async def test_withdraw_leaves_the_leavers_other_grants_alone(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors)
    one = await referred(client, s.leaver, s.offer, fields=["contact.phone"])
    other_offer = await publish(client, s.provider)
    two = await referred(client, s.leaver, other_offer, fields=["identity.given_name"])
    await client.post(f"/v1/me/referrals/{one['id']}/withdraw", headers=s.leaver.headers)
    seen = (await client.get(f"/v1/profiles/{s.leaver.id}", headers=s.provider.headers)).json()
    assert seen["grant_ids"] == [two["grant_id"]]
    assert seen["data"] == {"identity": {"given_name": "SENTINEL-given"}}


async def test_a_declined_referral_cannot_be_withdrawn(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors)
    referral = await referred(client, s.leaver, s.offer)
    await move(client, s.provider, referral["id"], "declined", note="We are full until May.")
    w = await client.post(f"/v1/me/referrals/{referral['id']}/withdraw", headers=s.leaver.headers)
    assert w.status_code == 409
    assert "declined" in problem(w)["detail"]
    mine = (await client.get("/v1/me/referrals", headers=s.leaver.headers)).json()["items"]
    assert mine[0]["history"][-1] == {
        "status": "declined",
        "at": mine[0]["updated_at"],
        "note": "We are full until May.",
    }


async def test_leaver_lists_own_referrals_newest_first(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors)
    offers = [s.offer, await publish(client, s.provider), await publish(client, s.provider)]
    made = [(await referred(client, s.leaver, offer))["id"] for offer in offers]
    await move(client, s.provider, made[0], "accepted", note="See you Monday")
    page = (
        await client.get("/v1/me/referrals", params={"limit": 2}, headers=s.leaver.headers)
    ).json()
    assert [i["id"] for i in page["items"]] == [made[2], made[1]]
    rest = (
        await client.get(
            "/v1/me/referrals",
            params={"limit": 2, "cursor": page["next_cursor"]},
            headers=s.leaver.headers,
        )
    ).json()
    assert [i["id"] for i in rest["items"]] == [made[0]]
    assert rest["next_cursor"] is None
    assert rest["items"][0]["history"][1]["note"] == "See you Monday"
    assert all("profile_id" not in i for i in page["items"] + rest["items"])
    accepted = (
        await client.get(
            "/v1/me/referrals", params={"status": "accepted"}, headers=s.leaver.headers
        )
    ).json()
    assert [i["id"] for i in accepted["items"]] == [made[0]]


# --- capacity -------------------------------------------------------------------------


async def _full(
    client: httpx.AsyncClient, offer_id: str, leaver_headers: dict[str, str]
) -> set[bool]:
    """``full`` as the offer page, the catalogue and matching each show it."""
    one = (await client.get(f"/v1/offers/{offer_id}")).json()["full"]
    listed = [
        o["full"] for o in (await client.get("/v1/offers")).json()["items"] if o["id"] == offer_id
    ]
    matched = [
        m["offer"]["full"]
        for m in (await client.get("/v1/me/offers", headers=leaver_headers)).json()["items"]
        if m["offer"]["id"] == offer_id
    ]
    assert len(listed) == len(matched) == 1
    return {one, *listed, *matched}


async def test_capacity_counts_accepted_and_in_progress_referrals(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors, capacity=1)
    offer_id = s.offer["id"]
    first = await referred(client, s.leaver, s.offer)
    assert await _full(client, offer_id, s.leaver.headers) == {False}
    await move(client, s.provider, first["id"], "accepted")
    assert await _full(client, offer_id, s.leaver.headers) == {True}
    # A full offer still takes referrals: they wait as pending.
    other = await make_leaver(client, actors)
    queued = await refer(client, other, s.offer)
    assert queued.status_code == 201
    assert queued.json()["status"] == "pending"
    await move(client, s.provider, first["id"], "in_progress")
    assert await _full(client, offer_id, s.leaver.headers) == {True}
    await move(client, s.provider, first["id"], "closed")
    assert await _full(client, offer_id, s.leaver.headers) == {False}


async def test_withdrawing_an_accepted_referral_frees_its_place(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors, capacity=1)
    referral = await referred(client, s.leaver, s.offer)
    await move(client, s.provider, referral["id"], "accepted")
    assert (await client.get(f"/v1/offers/{s.offer['id']}")).json()["full"] is True
    await client.post(f"/v1/me/referrals/{referral['id']}/withdraw", headers=s.leaver.headers)
    assert (await client.get(f"/v1/offers/{s.offer['id']}")).json()["full"] is False


async def test_an_offer_without_capacity_is_never_full(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    s = await scene(client, actors, capacity=None)
    referral = await referred(client, s.leaver, s.offer)
    await move(client, s.provider, referral["id"], "accepted")
    assert (await client.get(f"/v1/offers/{s.offer['id']}")).json()["full"] is False


async def test_lists_load_history_in_a_fixed_number_of_statements(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    """No N+1: a page of one referral and a page of five cost the same statements."""
    s = await scene(client, actors)
    statements: list[str] = []

    def count(*args: Any) -> None:
        if not args[2].startswith(("SAVEPOINT", "RELEASE SAVEPOINT")):  # the test's wrapping
            statements.append(args[2])

    async def cost(url: str, headers: dict[str, str]) -> int:
        statements.clear()
        event.listen(actors.db.engine.sync_engine, "before_cursor_execute", count)
        try:
            assert (await client.get(url, headers=headers)).status_code == 200
        finally:
            event.remove(actors.db.engine.sync_engine, "before_cursor_execute", count)
        return len(statements)

    first = await referred(client, s.leaver, s.offer)
    await move(client, s.provider, first["id"], "accepted")
    one = (
        await cost("/v1/referrals", s.provider.headers),
        await cost("/v1/me/referrals", s.leaver.headers),
    )
    for _ in range(4):
        made = await referred(client, s.leaver, await publish(client, s.provider))
        await move(client, s.provider, made["id"], "declined", note="No room")
    five = (
        await cost("/v1/referrals", s.provider.headers),
        await cost("/v1/me/referrals", s.leaver.headers),
    )
    assert one == five
    # Token liveness, the page, the page's history; and the provider's page is recorded in
    # the access log with one statement however long it is.
    assert five == (4, 3)


@pytest.mark.parametrize(
    ("path", "ending"),
    [
        ([], "declined"),
        (["accepted"], "closed"),
        (["accepted", "in_progress"], "completed"),
        (["accepted", "in_progress"], "closed"),
    ],
)
async def test_ending_a_referral_revokes_its_grant(
    client: httpx.AsyncClient, actors: Actors, path: list[str], ending: str
) -> None:
    """The leaver shared those fields for this referral; when the provider ends it, the
    provider's next read discloses nothing under that grant."""
    s = await scene(client, actors)
    referral = await referred(client, s.leaver, s.offer)
    profile_url = f"/v1/profiles/{s.leaver.id}"
    for step in path:
        assert (await move(client, s.provider, referral["id"], step)).status_code == 200
        assert (await client.get(profile_url, headers=s.provider.headers)).status_code == 200
    ended = await move(client, s.provider, referral["id"], ending, note="All done")
    assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == ending
    assert (await client.get(profile_url, headers=s.provider.headers)).status_code == 404
    grants = (await client.get("/v1/me/consents", headers=s.leaver.headers)).json()["items"]
    mine = next(g for g in grants if g["id"] == referral["grant_id"])
    assert mine["status"] == "revoked"


async def test_referral_is_made_under_a_generic_plan(
    client: httpx.AsyncClient, actors: Actors, db: Database
) -> None:
    # A prepared statement's plan may be generic (PostgreSQL switches after five runs).
    # ON CONFLICT must still find the partial unique index of open referrals, so its
    # predicate is in the statement, not in bound parameters: else every referral, from
    # some point on, is a 500.
    async with db.sessionmaker() as session:
        await session.execute(text("SET plan_cache_mode = force_generic_plan"))
        await session.commit()
    s = await scene(client, actors)
    first = await refer(client, s.leaver, s.offer)
    assert first.status_code == 201, first.text
    again = await refer(client, s.leaver, s.offer)
    assert again.status_code == 409
    assert problem(again)["status"] == 409
