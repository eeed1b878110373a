"""The demo data set: loads once, prints working credentials, spans the Thames Valley."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from app.demo import PROVIDERS, _id, next_friday_afternoon, seed_demo
from app.offers.schedule import LONDON
from tests.support import Actors


async def test_seed_demo_is_idempotent_and_realistic(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    first = await seed_demo(app.state.db, app.state.settings)
    assert first["offers_created"] >= 40
    second = await seed_demo(app.state.db, app.state.settings)
    assert second["offers_created"] == 0
    assert second["offers_total"] == first["offers_total"]
    assert len(PROVIDERS) >= 12
    # The secrets printed by the second run are the working ones.
    assert {c["client_id"] for c in second["clients"]} == {
        "demo-kiosk",
        "demo-partner",
        "demo-provider",
    }
    assert {c["client_secret"] for c in first["clients"]}.isdisjoint(
        c["client_secret"] for c in second["clients"]
    )
    assert [leaver["reference"] for leaver in second["leavers"]] == [
        "ONW-DEM0-0001",
        "ONW-DEM0-0002",
    ]
    r = await client.get("/v1/offers", params={"limit": 100})
    offers = r.json()["items"]
    assert len(offers) >= 40
    areas = {a for o in offers for a in o["eligibility"]["areas"]}
    assert len(areas) == 13
    categories = {o["category"] for o in offers}
    assert {
        "accommodation",
        "attitudes_behaviour",
        "children_families",
        "drugs_alcohol",
        "education_work",
        "finance_id",
        "health",
    } <= categories
    assert any(o["schedule"]["always_open"] for o in offers)
    assert any(o["delivery"]["meet_at_gate"] for o in offers)
    assert any(p["day"] == "sat" for o in offers for p in o["schedule"]["weekly"])
    assert any(p["opens"] >= "17:00" for o in offers for p in o["schedule"]["weekly"])


def test_demo_release_is_a_friday_afternoon() -> None:
    release = next_friday_afternoon(datetime(2026, 11, 23, 10, tzinfo=UTC)).astimezone(LONDON)
    assert (release.weekday(), release.hour, release.minute) == (4, 15, 30)
    assert release.date().isoformat() == "2026-11-27"


async def test_the_friday_release_story_shows_on_the_demo_leavers(
    app: FastAPI, client: httpx.AsyncClient, actors: Actors
) -> None:
    """Marcus (Bullingdon, high accommodation need) sees tonight's Reading shelter first;
    Jade (Bronzefield) is met at her own prison's gate, never at another's."""
    await seed_demo(app.state.db, app.state.settings)
    demo_titles = {title for offers in PROVIDERS.values() for title, *_ in offers}

    async def my_offers(reference: str) -> dict[str, Any]:
        r = await client.get(
            "/v1/me/offers",
            params={"limit": 100, "explain": "true"},
            headers=actors.leaver_headers(_id("profile", reference)),
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        body["items"] = [i for i in body["items"] if i["offer"]["title"] in demo_titles]
        return body

    marcus = await my_offers("ONW-DEM0-0002")
    first = marcus["items"][0]
    assert first["offer"]["title"] == "Emergency night shelter"
    assert first["reasons"][:2] == [
        "Matches your high need: accommodation",
        "Open Friday 20:00, the day you are released",
    ]
    released = next_friday_afternoon(datetime.now(UTC))
    assert first["next_open_at"] == (
        released.astimezone(LONDON).replace(hour=20, minute=0).astimezone(UTC)
    ).isoformat().replace("+00:00", "Z")
    titles = [i["offer"]["title"] for i in marcus["items"]]
    assert "Weekend housing advice line" in titles
    excluded = {e["offer"]["title"]: e["reasons"] for e in marcus["excluded"]}
    assert excluded["Rent deposit scheme"] == [
        "It is only for people with a local connection to West Berkshire"
    ]
    gate = {i["offer"]["title"] for i in marcus["items"] if "Meets you at the gate" in i["reasons"]}
    assert "Women's gate pick-up from Bronzefield" not in gate

    jade = await my_offers("ONW-DEM0-0001")
    by_title = {i["offer"]["title"]: i for i in jade["items"]}
    assert "Meets you at the gate" in by_title["Women's gate pick-up from Bronzefield"]["reasons"]
    assert (
        "Meets you at the gate" not in by_title["Meet at the gate and first-day support"]["reasons"]
    )
    assert any(
        r.startswith("You may need a local connection to")
        for i in jade["items"]
        for r in i["reasons"]
    )
    clinic = await client.get(
        f"/v1/offers/{_id('offer', 'Kennet Housing Trust', 'Housing options clinic')}"
    )
    assert clinic.json()["schedule"]["closures"][0]["note"] == "Closed for Christmas and New Year"
