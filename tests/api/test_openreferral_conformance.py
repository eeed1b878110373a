"""Every Open Referral UK document validates against the official ORUK 3.0 schemas.

The demo data set (every service), hypothesis-generated offers, the page envelope and the
API information, each checked with ``tests/oruk.py`` (official schema files, format
checking, no member the profile does not define).
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.demo import seed_demo
from app.offers.schemas import CATEGORIES, COHORTS, DELIVERY_MODES, EMAIL, GENDERS
from tests import oruk
from tests.api.offers_helpers import offer_body
from tests.conftest import problem
from tests.support import Actors

REPO = Path(__file__).resolve().parents[2]


def _shared_standard_dirs() -> list[Path]:
    """``../shared/standards/oruk-3.0`` beside this checkout and, for a git worktree,
    beside the main checkout."""
    candidates = [REPO.parent / "shared" / "standards" / "oruk-3.0"]
    dot_git = REPO / ".git"
    if dot_git.is_file():  # a worktree: "gitdir: <main>/.git/worktrees/<name>"
        gitdir = Path(dot_git.read_text().split(":", 1)[1].strip())
        common = (gitdir / (gitdir / "commondir").read_text().strip()).resolve()
        candidates.append(common.parent.parent / "shared" / "standards" / "oruk-3.0")
    return [c for c in candidates if c.is_dir()]


def test_vendored_schemas_are_the_shared_ones() -> None:
    shared = _shared_standard_dirs()
    if not shared:
        pytest.skip("no ../shared/standards/oruk-3.0 beside this checkout")
    for folder in shared:
        for name in oruk.VENDORED:
            assert (oruk.STANDARD / name).read_bytes() == (folder / name).read_bytes(), (
                f"tests/standards/oruk-3.0/{name} differs from {folder / name}: "
                "the vendored copy must never be edited"
            )


def test_validators_check_formats_and_undefined_members() -> None:
    """Guards the guard: without the format extras `uri` and `date-time` pass anything."""
    assert {"uuid", "date-time", "email", "uri"} <= set(oruk.FORMAT_CHECKER.checkers)
    good = {"id": str(uuid.uuid4()), "name": "A service", "status": "active"}
    assert oruk.service_problems(good) == []
    for bad in (
        {"id": f"{uuid.uuid4()}-0"},
        {"last_modified": "0.5"},
        {"url": "https://exa mple.org/"},
        {"minimum_age": None},
        {"eligibility_description": "For anyone."},
        {"organization": {"id": str(uuid.uuid4()), "name": "No description"}},
    ):
        assert oruk.service_problems({**good, **bad}), bad


async def _all_pages(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    page = 1
    while True:
        r = await client.get(
            "/v1/openreferral/services", params={**params, "page": page, "per_page": 20}
        )
        assert r.status_code == 200
        pages.append(r.json())
        if r.json()["last_page"]:
            return pages
        page += 1


async def test_every_demo_service_conforms(app: FastAPI, client: httpx.AsyncClient) -> None:
    await seed_demo(app.state.db, app.state.settings)
    pages = await _all_pages(client)
    listed = [item for page in pages for item in page["contents"]]
    assert len(listed) == pages[0]["total_items"] >= 40
    for page in pages:
        assert oruk.page_problems(page) == []

    sub_ids: list[str] = []
    for item in listed:
        r = await client.get(f"/v1/openreferral/services/{item['id']}")
        assert r.status_code == 200
        service = r.json()
        assert oruk.service_problems(service) == [], service["name"]
        # The page lists the one-to-one members of the very same service.
        assert {k: v for k, v in service.items() if k in item} == item
        # Every location of the demo set is in the Thames Valley: a full postal address.
        for sal in service["service_at_locations"]:
            [address] = sal["location"]["addresses"]
            assert address["state_province"] in {"Berkshire", "Buckinghamshire", "Oxfordshire"}
            assert address["city"]
            assert address["postal_code"]
        sub_ids += [s["id"] for s in service["schedules"]]
        sub_ids += [a["id"] for a in service["service_areas"]]
        sub_ids += [x["id"] for x in service["service_at_locations"]]
        sub_ids += [x["location"]["id"] for x in service["service_at_locations"]]
        sub_ids += [
            a["id"] for x in service["service_at_locations"] for a in x["location"]["addresses"]
        ]
        # Stable: the same service, the same ids.
        again = await client.get(f"/v1/openreferral/services/{item['id']}")
        assert again.json() == service
    assert len(sub_ids) == len(set(sub_ids))
    assert not {i["id"] for i in listed} & set(sub_ids)


async def test_api_info_conforms(client: httpx.AsyncClient, app: FastAPI) -> None:
    r = await client.get("/v1/openreferral/")
    assert r.status_code == 200
    info = r.json()
    assert oruk.api_info_problems(info) == []
    assert info["version"] == "3.0"
    issuer = app.state.settings.issuer.rstrip("/")
    assert info["openapi_url"] == f"{issuer}/openapi.json"
    # Absolute URLs come from ONWARD_ISSUER, never from the request's Host.
    other = await client.get("/v1/openreferral/", headers={"Host": "127.0.0.1:9999"})
    if other.status_code == 200:
        assert other.json()["openapi_url"] == f"{issuer}/openapi.json"


async def test_empty_page_and_sparse_offer_conform(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    p = await actors.client("offers:write", kind="provider")
    org = {"organization_id": str(p.organisation_id)}
    empty = (await client.get("/v1/openreferral/services", params=org)).json()
    assert empty["empty"]
    assert oruk.page_problems(empty) == []
    # No ages, no contact, a place far from any known authority with no postcode.
    body = offer_body(
        eligibility={},
        contact={},
        locations=[{"name": "Pop-up van", "latitude": 54.97, "longitude": -1.61}],
        schedule={"always_open": True},
    )
    made = await client.post("/v1/offers", json=body, headers=p.headers)
    assert made.status_code == 201
    service = (await client.get(f"/v1/openreferral/services/{made.json()['id']}")).json()
    assert oruk.service_problems(service) == []
    for absent in ("minimum_age", "maximum_age", "url", "email"):
        assert absent not in service
    location = service["service_at_locations"][0]["location"]
    assert location["addresses"] == []
    assert "description" not in location
    [always] = service["schedules"]
    assert (always["byday"], always["opens_at"], always["closes_at"]) == (
        "MO,TU,WE,TH,FR,SA,SU",
        "00:00",
        "23:59",
    )
    page = (await client.get("/v1/openreferral/services", params=org)).json()
    assert oruk.page_problems(page) == []
    assert page["contents"][0]["organization"]["description"]


async def test_an_address_names_the_right_town_or_none(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    p = await actors.client("offers:write", kind="provider")
    west_oxfordshire = "E07000181"
    places = [
        # 35 km from Witney, further still from any other Thames Valley town.
        {
            "name": "Farm",
            "address": "Farm Lane",
            "postcode": "GL7 1AA",
            "latitude": 51.75,
            "longitude": -1.99,
        },
        # Newcastle: the offer's only area is not where this place is.
        {
            "name": "Van",
            "address": "Quayside",
            "postcode": "NE1 3AA",
            "latitude": 54.97,
            "longitude": -1.61,
        },
        # Near Slough, whatever the offer's areas say.
        {
            "name": "Hub",
            "address": "1 High St",
            "postcode": "SL1 1AA",
            "latitude": 51.51,
            "longitude": -0.6,
        },
    ]
    body = offer_body(eligibility={"areas": [west_oxfordshire]}, locations=places)
    made = await client.post("/v1/offers", json=body, headers=p.headers)
    assert made.status_code == 201
    service = (await client.get(f"/v1/openreferral/services/{made.json()['id']}")).json()
    assert oruk.service_problems(service) == []
    farm, van, hub = (s["location"] for s in service["service_at_locations"])
    assert [(a["city"], a["state_province"]) for a in farm["addresses"]] == [
        ("Witney", "Oxfordshire")
    ]
    assert van["addresses"] == []
    assert van["description"] == "Quayside, NE1 3AA"
    assert [(a["city"], a["state_province"]) for a in hub["addresses"]] == [("Slough", "Berkshire")]
    assert service["service_areas"][0]["name"] == "West Oxfordshire"


@pytest.mark.parametrize(
    "value",
    ["0.5", "1700000000", "2026-05-01", "2026-05-01T14:00:00", "yesterday", "2026-13-01T00:00:00Z"],
)
async def test_modified_after_takes_rfc3339_only(client: httpx.AsyncClient, value: str) -> None:
    r = await client.get("/v1/openreferral/services", params={"modified_after": value})
    assert r.status_code == 422
    body = problem(r)
    assert body["errors"][0]["loc"] == ["query", "modified_after"]
    assert value not in r.text


async def test_modified_after_at_the_edges_of_time(client: httpx.AsyncClient) -> None:
    for value, status in (
        ("9999-12-31T23:59:59-01:00", 422),
        ("0001-01-01T00:00:00+01:00", 422),
        ("9999-12-31T23:59:59Z", 200),
        ("2026-05-01T14:00:00.123456+01:00", 200),
    ):
        r = await client.get("/v1/openreferral/services", params={"modified_after": value})
        assert r.status_code == status, value


async def test_filters_still_work(client: httpx.AsyncClient, actors: Actors) -> None:
    p = await actors.client("offers:write", kind="provider")
    made = await client.post(
        "/v1/offers", json=offer_body(title="Quiet library hours"), headers=p.headers
    )
    last_modified = (await client.get(f"/v1/openreferral/services/{made.json()['id']}")).json()[
        "last_modified"
    ]
    org = {"organization_id": str(p.organisation_id)}
    found = await client.get("/v1/openreferral/services", params={**org, "search": "library"})
    assert [s["name"] for s in found.json()["contents"]] == ["Quiet library hours"]
    none = await client.get("/v1/openreferral/services", params={**org, "search": "zebra"})
    assert none.json()["total_items"] == 0
    # Strictly after: the last_modified a harvester saw brings nothing back.
    seen = await client.get(
        "/v1/openreferral/services", params={**org, "modified_after": last_modified}
    )
    assert seen.status_code == 200
    assert seen.json()["total_items"] == 0
    before = await client.get(
        "/v1/openreferral/services", params={**org, "modified_after": "2000-01-01T00:00:00Z"}
    )
    assert before.json()["total_items"] == 1


# --- Hypothesis: any valid offer, published, is a conforming service ----------------------

_text = st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")
TIMES = [f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 30)] + ["24:00", "23:59", "00:01"]
AREAS = ["E06000038", "E07000178", "E06000042", "E08000003", "W06000015", "S12000036"]
TOWNS = [(51.4543, -0.9781), (51.752, -1.2577), (52.0406, -0.7594), (51.5105, -0.595)]


@st.composite
def _period(draw: st.DrawFn) -> dict[str, str]:
    opens, closes = sorted(
        draw(st.lists(st.sampled_from(sorted(TIMES)), min_size=2, max_size=2, unique=True))
    )
    day = draw(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]))
    return {"day": day, "opens": opens, "closes": closes}


@st.composite
def _eligibility(draw: st.DrawFn) -> dict[str, Any]:
    ages = sorted(draw(st.lists(st.integers(0, 120), min_size=2, max_size=2)))
    areas = draw(st.lists(st.sampled_from(AREAS), unique=True, max_size=3))
    return {
        "genders": draw(st.lists(st.sampled_from(GENDERS), unique=True, max_size=2)),
        "min_age": draw(st.sampled_from([None, ages[0]])),
        "max_age": draw(st.sampled_from([None, ages[1]])),
        "cohorts": draw(st.lists(st.sampled_from(COHORTS), unique=True, max_size=2)),
        "areas": areas,
        "requires_local_connection": bool(areas) and draw(st.booleans()),
    }


_coordinates = st.one_of(
    st.tuples(
        st.floats(-90, 90, allow_nan=False, allow_infinity=False),
        st.floats(-180, 180, allow_nan=False, allow_infinity=False),
    ),
    st.sampled_from(TOWNS).flatmap(
        lambda t: st.tuples(st.floats(t[0] - 0.3, t[0] + 0.3), st.floats(t[1] - 0.3, t[1] + 0.3))
    ),
)


@st.composite
def _location(draw: st.DrawFn) -> dict[str, Any]:
    latitude, longitude = draw(_coordinates)
    return {
        "name": draw(st.text(_text, min_size=1, max_size=30)),
        "address": draw(st.none() | st.text(_text, max_size=40)),
        "postcode": draw(st.none() | st.sampled_from(["", " ", "RG1 1AA", "OX1 1AA"])),
        "latitude": latitude,
        "longitude": longitude,
    }


_emails = st.from_regex(EMAIL.pattern, fullmatch=True).filter(
    lambda s: len(s) <= 254 and "\x00" not in s and not any("\ud800" <= c <= "\udfff" for c in s)
)
_urls = st.one_of(
    st.sampled_from(["https://example.org", "http://example.org/a%zz[x]?q=ü#f#g", "https://a:b@c"]),
    st.from_regex(r"https?://[^\s]+", fullmatch=True).filter(
        lambda s: (
            len(s) <= 2000 and "\x00" not in s and not any("\ud800" <= c <= "\udfff" for c in s)
        )
    ),
)


@st.composite
def offer_bodies(draw: st.DrawFn) -> dict[str, Any]:
    today = date.today()
    return {
        "title": draw(st.text(_text, min_size=3, max_size=40)),
        "summary": draw(st.text(_text, max_size=60)),
        "description": draw(st.text(_text, max_size=60)),
        "category": draw(st.sampled_from(CATEGORIES)),
        "tags": draw(st.lists(st.sampled_from(["housing", "food", "id"]), unique=True)),
        "eligibility": draw(_eligibility()),
        "delivery": {
            "modes": draw(st.lists(st.sampled_from(DELIVERY_MODES), unique=True, max_size=2)),
            "meet_at_gate": draw(st.booleans()),
        },
        "locations": draw(st.lists(_location(), max_size=3)),
        "schedule": {
            "always_open": draw(st.booleans()),
            "weekly": draw(st.lists(_period(), max_size=6)),
        },
        "contact": {
            "phone": draw(st.none() | st.text(_text, max_size=40)),
            "email": draw(st.none() | _emails),
            "url": draw(st.none() | _urls),
        },
        "capacity": draw(st.none() | st.integers(0, 1000)),
        "status": "published",
        "valid_from": draw(st.sampled_from([None, (today - timedelta(days=3)).isoformat()])),
        "valid_until": draw(st.sampled_from([None, (today + timedelta(days=3)).isoformat()])),
    }


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=offer_bodies())
async def test_any_published_offer_is_a_conforming_service(
    client: httpx.AsyncClient, actors: Actors, body: dict[str, Any]
) -> None:
    p = await actors.client("offers:write", kind="provider")
    made = await client.post("/v1/offers", json=body, headers=p.headers)
    assert made.status_code == 201, made.text
    offer_id = made.json()["id"]
    r = await client.get(f"/v1/openreferral/services/{offer_id}")
    assert r.status_code == 200
    service = r.json()
    assert oruk.service_problems(service) == []
    assert service["id"] == offer_id
    assert len(service["service_at_locations"]) == len(body["locations"])
    page = await client.get(
        "/v1/openreferral/services", params={"organization_id": str(p.organisation_id)}
    )
    assert oruk.page_problems(page.json()) == []
    [item] = page.json()["contents"]
    assert {k: v for k, v in service.items() if k in item} == item
