"""The demo data set: loads once, prints working credentials, spans the Thames Valley."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import Range

from app import demo, demo_ids
from app.demo import (
    DemoDataError,
    _christmas_closure,
    _id,
    demo_data,
    load_demo_data,
    next_friday_afternoon,
    seed_demo,
)
from app.models import Base
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
    assert len(demo_data().providers) >= 12
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
    demo_titles = {offer.title for provider in demo_data().providers for offer in provider.offers}

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


# What the demo writes, table by table, against a snapshot taken before its data moved from
# Python tuples to app/demo_data.toml (issue 12, item 4): the same ids, organisations,
# clients, offers (documents, derived search columns, locations) and leavers. Only what
# differs run to run is left out: timestamps of the write, secret and PIN hashes (salted
# or random), and the dates that follow the calendar (this year's Christmas closure, the
# coming Friday's release), which are replaced by placeholders.
# ONWARD_UPDATE_DEMO_SNAPSHOT=1 rewrites the snapshot after a deliberate change to the data.
SNAPSHOT = Path(__file__).with_name("demo_seed.snapshot.json")
SEEDED_TABLES = ("organisations", "clients", "offers", "offer_locations", "profiles")
UNSTABLE_COLUMNS = {"created_at", "updated_at", "secret_hash", "pin_hash"}


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Range):
        return [value.lower, value.upper, value.bounds]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


async def _rows(app: FastAPI) -> dict[str, dict[str, dict[str, Any]]]:
    tables: dict[str, dict[str, dict[str, Any]]] = {}
    async with app.state.db.sessionmaker() as session:
        for name in SEEDED_TABLES:
            table = Base.metadata.tables[name]
            columns = [c for c in table.columns if c.name not in UNSTABLE_COLUMNS]
            rows = (await session.execute(select(*columns))).mappings()
            key = [c.name for c in table.primary_key.columns]
            tables[name] = {"/".join(str(row[k]) for k in key): _plain(dict(row)) for row in rows}
    return tables


async def test_the_demo_seeds_exactly_the_snapshot(app: FastAPI) -> None:
    before = await _rows(app)
    await seed_demo(app.state.db, app.state.settings)
    after = await _rows(app)
    seeded = {
        name: {k: after[name][k] for k in sorted(after[name].keys() - before[name].keys())}
        for name in SEEDED_TABLES
    }
    release = next_friday_afternoon(datetime.now(UTC))
    christmas = _christmas_closure(datetime.now(UTC).astimezone(LONDON).date())[0]
    text = json.dumps(seeded, indent=1, sort_keys=True, ensure_ascii=False)
    for value, placeholder in (
        (release.isoformat(), "<release>"),
        (release.isoformat().replace("+00:00", "Z"), "<release>"),
        (christmas["from"], "<christmas-eve>"),
        (christmas["until"], "<new-year's-day>"),
    ):
        text = text.replace(value, placeholder)
    if os.environ.get("ONWARD_UPDATE_DEMO_SNAPSHOT") == "1":
        SNAPSHOT.write_text(text + "\n", encoding="utf-8")
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    actual = json.loads(text)
    assert {name: len(rows) for name, rows in actual.items()} == {
        name: len(rows) for name, rows in expected.items()
    }
    for name in SEEDED_TABLES:
        for key, row in expected[name].items():
            assert actual[name].get(key) == row, (name, key)
    assert actual == expected


# A mistake in the data file stops the seed with the entry it is in, before anything is written.
SHIPPED = (Path(demo.__file__).parent / demo.DATA_FILE).read_text(encoding="utf-8")
SHELTER = 'title = "Emergency night shelter"\n'


def _with_mistake(old: str, new: str) -> str:
    assert SHIPPED.count(old) >= 1, old
    return SHIPPED.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            SHELTER + 'category = "accommodation"\ntowns = ["reading"]',
            SHELTER + 'category = "accommodation"\ntowns = ["raeding"]',
            'app/demo_data.toml: providers["Kennet Housing Trust"].offers["Emergency night '
            "shelter\"]: unknown town 'raeding'",
        ),
        (
            SHELTER,
            SHELTER + 'tagz = ["night"]\n',
            'app/demo_data.toml: providers["Kennet Housing Trust"].offers["Emergency night '
            'shelter"].tagz: Extra inputs are not permitted',
        ),
        (
            SHELTER + 'category = "accommodation"',
            SHELTER + 'category = "acommodation"',
            'app/demo_data.toml: providers["Kennet Housing Trust"].offers["Emergency night '
            'shelter"]: the offer it makes is not valid: category: ',
        ),
        (
            '"mon-sun 20:00-24:00"',
            '"mon-sun 20:00 to 24:00"',
            'app/demo_data.toml: providers["Kennet Housing Trust"].offers["Emergency night '
            "shelter\"]: hours 'mon-sun 20:00 to 24:00' is neither a preset",
        ),
        (
            '"mon-sun 20:00-24:00"',
            '"sun-mon 20:00-24:00"',
            "days 'sun-mon' run backwards",
        ),
        (
            "min_age = 18",
            'min_age = "eighteen"',
            'app/demo_data.toml: providers["Vale Skills and Work"].offers["CSCS card and '
            'construction taster"].min_age: Input should be a valid integer',
        ),
        (
            'health = "low"',
            'health = "lowish"',
            'app/demo_data.toml: leavers["ONW-DEM0-0001"]: the profile it makes is not valid: '
            "needs.health.level: ",
        ),
        (
            'pin = "730264"\n',
            "",
            'app/demo_data.toml: leavers["ONW-DEM0-0002"].pin: Field required',
        ),
        (
            'pin = "730264"\n',
            'pin = "730264\n',
            "app/demo_data.toml: not valid TOML: Illegal character",
        ),
    ],
    ids=[
        "unknown-town",
        "unknown-key",
        "bad-category",
        "bad-hours",
        "backwards-days",
        "wrong-type",
        "invalid-profile",
        "missing-field",
        "not-toml",
    ],
)
def test_a_mistake_in_the_data_file_names_the_entry(old: str, new: str, message: str) -> None:
    with pytest.raises(DemoDataError) as raised:
        load_demo_data(_with_mistake(old, new), "app/demo_data.toml")
    assert message in str(raised.value)


def test_the_same_offer_twice_is_refused() -> None:
    offer = SHIPPED.index("[[providers.offers]]", SHIPPED.index(SHELTER) - 30)
    block = SHIPPED[offer : SHIPPED.index("[[providers.offers]]", offer + 1)]
    with pytest.raises(DemoDataError) as raised:
        load_demo_data(SHIPPED.replace(block, block + block, 1))
    assert 'providers["Kennet Housing Trust"].offers["Emergency night shelter"]: appears twice' in (
        str(raised.value)
    )


def test_the_shipped_data_names_what_the_openapi_examples_name() -> None:
    data = demo_data()
    offers = {
        str(_id("offer", p.name, o.title)): (p.name, o.title)
        for p in data.providers
        for o in p.offers
    }
    assert offers[demo_ids.GATE_OFFER_ID][0] == offers[demo_ids.TRAVEL_OFFER_ID][0]
    provider = next(c for c in data.clients if c.client_id == "demo-provider")
    assert provider.organisation == offers[demo_ids.GATE_OFFER_ID][0]
    partner = next(c for c in data.clients if c.client_id == "demo-partner")
    assert str(_id("organisation", partner.organisation)) == demo_ids.PARTNER_ORGANISATION_ID
    leaver = data.leavers[0]
    assert (leaver.reference, leaver.pin) == (demo_ids.LEAVER_REFERENCE, demo_ids.LEAVER_PIN)
