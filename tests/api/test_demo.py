"""The demo data set: loads once, prints working credentials, spans the Thames Valley."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from fastapi import FastAPI

from app.demo import PROVIDERS, next_friday_afternoon, seed_demo
from app.offers.schedule import LONDON


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
