"""Release-day matching over HTTP (API.md §4) and the fields it reads (§2, §4): arrival
from the prison, the order, true reasons, explain, the owner's listing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from app.offers import service
from tests.api.identity_helpers import make_profile
from tests.api.offers_helpers import OXFORD, READING, offer_body
from tests.conftest import problem
from tests.support import Actor, Actors

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
ALL_DAYS = (*WEEKDAYS, "sat", "sun")
READING_PLACE = {"name": "Reading", "latitude": 51.4543, "longitude": -0.9781}
SHELTER_HOURS = [{"day": d, "opens": "20:00", "closes": "24:00"} for d in ALL_DAYS] + [
    {"day": d, "opens": "00:00", "closes": "08:00"} for d in ALL_DAYS
]
OFFICE_HOURS = [{"day": d, "opens": "09:00", "closes": "17:00"} for d in WEEKDAYS]


async def _provider(actors: Actors) -> Actor:
    return await actors.client("offers:write", kind="provider")


async def _publish(client: httpx.AsyncClient, who: Actor, **overrides: Any) -> dict[str, Any]:
    r = await client.post("/v1/offers", json=offer_body(**overrides), headers=who.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _man_from_bullingdon(**release: Any) -> dict[str, Any]:
    return {
        "identity": {"gender": "man", "date_of_birth": "1988-09-30"},
        "release": {
            "establishment_code": "BLI",
            "expected_at": "2026-11-27T15:30:00Z",  # a Friday afternoon
            "area": READING,
            **release,
        },
        "needs": {"accommodation": {"level": "high"}, "education_work": {"level": "low"}},
    }


async def _my_offers(
    client: httpx.AsyncClient, actors: Actors, data: dict[str, Any], **params: Any
) -> dict[str, Any]:
    profile_id, _ = await make_profile(actors.db, data=data)
    r = await client.get(
        "/v1/me/offers",
        params={"limit": 100, **params},
        headers=actors.leaver_headers(profile_id),
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_friday_release_sees_tonights_shelter_first_with_true_reasons(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    p = await _provider(actors)
    shelter = await _publish(
        client,
        p,
        title="Night shelter",
        capacity=None,
        locations=[READING_PLACE],
        schedule={"weekly": SHELTER_HOURS, "open_on_bank_holidays": True},
    )
    office = await _publish(  # closes 15:45: shut by the time he can get to Reading
        client,
        p,
        title="Housing office",
        capacity=None,
        locations=[READING_PLACE],
        schedule={"weekly": [{**h, "closes": "15:45"} for h in OFFICE_HOURS]},
    )
    gate_elsewhere = await _publish(
        client,
        p,
        title="Gate pick-up from Bronzefield",
        category="practical",
        capacity=None,
        locations=[],
        delivery={"modes": ["outreach"], "meet_at_gate": True, "gate_establishments": ["BZI"]},
        schedule={"weekly": OFFICE_HOURS},
    )
    gate_here = await _publish(
        client,
        p,
        title="Gate pick-up from Bullingdon",
        category="practical",
        capacity=None,
        locations=[],
        delivery={"modes": ["outreach"], "meet_at_gate": True, "gate_establishments": ["BLI"]},
        schedule={"weekly": OFFICE_HOURS},
    )
    mine = {o["id"] for o in (shelter, office, gate_elsewhere, gate_here)}
    items = [
        i
        for i in (await _my_offers(client, actors, _man_from_bullingdon()))["items"]
        if i["offer"]["id"] in mine
    ]
    assert [i["offer"]["id"] for i in items][:2] == [shelter["id"], office["id"]]
    first = items[0]
    assert first["next_open_at"] == "2026-11-27T20:00:00Z"
    assert first["reasons"][:2] == [
        "Matches your high need: accommodation",
        "Open Friday 20:00, the day you are released",
    ]
    by_id = {i["offer"]["id"]: i for i in items}
    assert by_id[office["id"]]["next_open_at"] == "2026-11-30T09:00:00Z"
    assert "Open when you are released" not in by_id[office["id"]]["reasons"]
    assert "Meets you at the gate" in by_id[gate_here["id"]]["reasons"]
    assert "Meets you at the gate" not in by_id[gate_elsewhere["id"]]["reasons"]
    for item in items:  # practical serves no pathway: no need named
        if item["offer"]["category"] == "practical":
            assert not any("need" in r for r in item["reasons"])
    # The score never rises down the list.
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True)


async def test_christmas_eve_release_skips_bank_holidays_and_closures(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    p = await _provider(actors)
    office = await _publish(client, p, capacity=None, schedule={"weekly": OFFICE_HOURS})
    closed = await _publish(
        client,
        p,
        capacity=None,
        schedule={
            "weekly": OFFICE_HOURS,
            "open_on_bank_holidays": True,
            "closures": [{"from": "2026-12-24", "until": "2027-01-01", "note": "Christmas break"}],
        },
    )
    assert closed["schedule"]["closures"] == [
        {"from": "2026-12-24", "until": "2027-01-01", "note": "Christmas break"}
    ]
    data = _man_from_bullingdon(expected_at="2026-12-24T15:30:00Z")
    items = {
        i["offer"]["id"]: i
        for i in (await _my_offers(client, actors, data, within_hours=336))["items"]
    }
    assert items[office["id"]]["next_open_at"] == "2026-12-29T09:00:00Z"
    assert (
        "Closed on the bank holiday, Friday 25 December (Christmas Day)"
        in items[office["id"]]["reasons"]
    )
    assert items[closed["id"]]["next_open_at"] == "2027-01-04T09:00:00Z"
    assert "Closed 24 December to 1 January: Christmas break" in items[closed["id"]]["reasons"]


async def test_local_connections_list_leave_out_and_explain(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    p = await _provider(actors)
    oxford_only = await _publish(
        client,
        p,
        title="Oxford lodgings",
        eligibility__areas=[OXFORD],
        eligibility__requires_local_connection=True,
    )
    for_women = await _publish(client, p, title="Women's housing", eligibility__genders=["woman"])
    # Unknown connections: listed, with the reason.
    unknown = await _my_offers(client, actors, _man_from_bullingdon())
    [item] = [i for i in unknown["items"] if i["offer"]["id"] == oxford_only["id"]]
    assert "You may need a local connection to Oxford" in item["reasons"]
    assert unknown.get("excluded") is None
    # Known, and none in Oxford: left out, and explained when asked.
    known = await _my_offers(
        client, actors, _man_from_bullingdon(local_connections=[READING]), explain="true"
    )
    assert oxford_only["id"] not in {i["offer"]["id"] for i in known["items"]}
    excluded = {e["offer"]["id"]: e for e in known["excluded"]}
    assert excluded[oxford_only["id"]] == {
        "offer": {"id": oxford_only["id"], "title": "Oxford lodgings"},
        "reasons": ["It is only for people with a local connection to Oxford"],
    }
    assert excluded[for_women["id"]]["reasons"] == ["It is for women only"]
    assert len(known["excluded"]) <= 20
    # With a connection to Oxford: listed, saying so.
    connected = await _my_offers(client, actors, _man_from_bullingdon(local_connections=[OXFORD]))
    [item] = [i for i in connected["items"] if i["offer"]["id"] == oxford_only["id"]]
    assert "You have a local connection to Oxford" in item["reasons"]


async def test_the_first_ordering_in_sql_keeps_the_best_offer_in_a_small_candidate_set(
    client: httpx.AsyncClient, actors: Actors, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The oldest offer ranks first (high need, open tonight); newer ones that open later
    or serve no need must not crowd it out of the candidates the full rules see."""
    p = await _provider(actors)
    tag = uuid.uuid4().hex[:8]
    best = await _publish(
        client,
        p,
        title=f"Shelter {tag}",
        capacity=None,
        locations=[READING_PLACE],
        schedule={"weekly": SHELTER_HOURS},
    )
    for i in range(4):
        await _publish(
            client,
            p,
            title=f"Later {tag} {i}",
            category="wellbeing",
            schedule={"weekly": [{"day": "wed", "opens": "09:00", "closes": "17:00"}]},
        )
    monkeypatch.setattr(service, "MATCH_CANDIDATES", 1)
    profile_id, _ = await make_profile(actors.db, data=_man_from_bullingdon())
    r = await client.get(
        "/v1/me/offers", params={"limit": 1}, headers=actors.leaver_headers(profile_id)
    )
    assert r.status_code == 200, r.text
    assert [i["offer"]["id"] for i in r.json()["items"]] == [best["id"]]


async def test_owner_lists_its_own_offers_in_every_status(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    p = await _provider(actors)
    other = await _provider(actors)
    draft = await _publish(client, p, status="draft")
    paused = await _publish(client, p, status="paused")
    published = await _publish(client, p)
    expired = await _publish(client, p, valid_from="2020-01-01", valid_until="2020-12-31")
    withdrawn = await _publish(client, p)
    assert (
        await client.delete(f"/v1/offers/{withdrawn['id']}", headers=p.headers)
    ).status_code == 204
    params: dict[str, str | int] = {"organisation_id": str(p.organisation_id), "limit": 100}
    r = await client.get("/v1/offers", params=params, headers=p.headers)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    assert [o["id"] for o in r.json()["items"]] == [
        o["id"] for o in (withdrawn, expired, published, paused, draft)
    ]
    assert {o["status"] for o in r.json()["items"]} == {"draft", "paused", "published", "withdrawn"}
    # Anyone else (no token, or another organisation's token): its published offers only.
    for headers in ({}, other.headers):
        r = await client.get("/v1/offers", params=params, headers=headers)
        assert r.status_code == 200
        assert [o["id"] for o in r.json()["items"]] == [published["id"]]
        assert r.headers["cache-control"] == "public, max-age=60"
    r = await client.get("/v1/offers", params=params, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    r = await client.get("/v1/offers", params={"organisation_id": "not-a-uuid"})
    assert r.status_code == 422


async def test_new_offer_fields_are_validated_without_echoing(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    p = await _provider(actors)
    bad: list[tuple[dict[str, Any], str]] = [
        (
            offer_body(delivery={"meet_at_gate": True, "gate_establishments": ["ZZQ"]}),
            "ZZQ",
        ),
        (offer_body(delivery={"meet_at_gate": False, "gate_establishments": ["BLI"]}), "BLI"),
        (offer_body(delivery={"worker_genders": ["robot"]}), "robot"),
        (
            offer_body(
                schedule={"weekly": [], "closures": [{"from": "2026-12-31", "until": "2026-12-01"}]}
            ),
            "2026-12-31",
        ),
        (offer_body(schedule={"closures": [{"from": "2026-12-01"}]}), "2026-12-01"),
    ]
    for body, sent in bad:
        r = await client.post("/v1/offers", json=body, headers=p.headers)
        assert r.status_code == 422, body
        problem(r)
        assert sent not in r.text


async def test_profile_takes_the_release_day_fields(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    profile_id, _ = await make_profile(actors.db, data={})
    headers = actors.leaver_headers(profile_id)
    me = await client.get("/v1/me", headers=headers)
    patch = {
        "release": {"establishment_code": "BZI", "local_connections": [READING, OXFORD]},
        "key_worker": {
            "name": "Ann Lee",
            "organisation": "Isis Women's Centre",
            "phone": "07700 900111",
        },
    }
    r = await client.patch(
        "/v1/me",
        json=patch,
        headers={
            **headers,
            "If-Match": me.headers["etag"],
            "Content-Type": "application/merge-patch+json",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["release"] == patch["release"]
    assert r.json()["data"]["key_worker"] == patch["key_worker"]
    for bad in (
        {"release": {"establishment_code": "QQQ"}},
        {"release": {"local_connections": ["Reading"]}},
        {"release": {"local_connections": [READING, READING]}},
        {"key_worker": {"name": "x" * 101}},
        {"key_worker": {"phone": "call me maybe"}},
    ):
        r = await client.patch(
            "/v1/me",
            json=bad,
            headers={**headers, "If-Match": '"2"', "Content-Type": "application/merge-patch+json"},
        )
        assert r.status_code == 422, bad
        problem(r)
        assert "QQQ" not in r.text
        assert "call me maybe" not in r.text
    fields = {f["path"] for f in (await client.get("/v1/consent/fields")).json()}
    assert {
        "release.establishment_code",
        "release.local_connections",
        "key_worker.name",
        "key_worker.organisation",
        "key_worker.phone",
    } <= fields
