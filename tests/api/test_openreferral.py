"""The Open Referral UK (HSDS 3) export."""

from __future__ import annotations

import uuid

import httpx

from tests.api.offers_helpers import offer_body
from tests.conftest import problem
from tests.support import Actors


async def test_api_info_is_public(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/openreferral/")
    assert r.status_code == 200
    assert r.json()["version"] == "3.0"
    assert r.headers["access-control-allow-origin"] == "*"


async def test_services_map_published_offers(client: httpx.AsyncClient, actors: Actors) -> None:
    p = await actors.client("offers:write", kind="provider")
    other = await actors.client("offers:write", kind="provider")
    body = offer_body(eligibility__max_age=25)
    body["schedule"]["weekly"].append({"day": "sat", "opens": "20:00", "closes": "24:00"})
    made = (await client.post("/v1/offers", json=body, headers=p.headers)).json()
    draft = offer_body(status="draft")
    hidden = (await client.post("/v1/offers", json=draft, headers=p.headers)).json()
    await client.post("/v1/offers", json=offer_body(), headers=other.headers)

    r = await client.get(
        "/v1/openreferral/services", params={"organization_id": str(p.organisation_id)}
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "*"
    page = r.json()
    assert {k: page[k] for k in ("total_items", "total_pages", "page_number", "size")} == {
        "total_items": 1,
        "total_pages": 1,
        "page_number": 1,
        "size": 1,
    }
    assert page["first_page"]
    assert page["last_page"]
    assert not page["empty"]
    [svc] = page["contents"]
    assert svc["id"] == made["id"] != hidden["id"]
    assert svc["organization_id"] == str(p.organisation_id)
    assert svc["organization"] == {
        "id": str(p.organisation_id),
        "name": p.organisation_name,
        "description": f"{p.organisation_name} publishes services for people leaving prison "
        "on Onward.",
    }
    assert svc["name"] == "Night shelter beds"
    assert svc["status"] == "active"
    assert (svc["minimum_age"], svc["maximum_age"]) == (18, 25)
    assert svc["email"] == "help@example.org"
    assert svc["url"] == "https://example.org"
    # Who it is for and the phone: the UK profile has no eligibility_description or phones.
    assert svc["description"] == (
        "Emergency beds for people with nowhere to stay tonight.\n\n"
        "Walk in or call ahead. Hot meal and a shower.\n\n"
        "Who it is for: Aged 18 to 25. Serves: Reading. People leaving prison.\n\n"
        "Phone: 0118 000 0000"
    )
    for removed in ("eligibility_description", "phones", "taxonomy_terms", "schedules"):
        assert removed not in svc  # a page lists one-to-one members only

    one = await client.get(f"/v1/openreferral/services/{made['id']}")
    assert one.status_code == 200
    full = one.json()
    assert {k: v for k, v in full.items() if k in svc} == svc
    location = full["service_at_locations"][0]["location"]
    assert (location["latitude"], location["longitude"]) == (51.4543, -0.9781)
    assert location["addresses"][0] == {
        "id": location["addresses"][0]["id"],
        "location_id": location["id"],
        "address_1": "1 Friar Street, Reading",
        "city": "Reading",
        "state_province": "Berkshire",
        "postal_code": "RG1 1AA",
        "country": "GB",
        "address_type": "physical",
    }
    assert full["service_areas"][0]["name"] == "Reading"
    assert full["attributes"][0]["taxonomy_term"]["term"] == "accommodation"
    by_day = {(s["byday"], s["opens_at"], s["closes_at"]) for s in full["schedules"]}
    assert by_day == {
        ("MO,TU,WE,TH", "09:00", "17:00"),
        ("FR", "09:00", "12:00"),
        ("FR", "13:00", "17:00"),
        ("SA", "20:00", "23:59"),
    }
    assert all(s["freq"] == "WEEKLY" for s in full["schedules"])
    assert all(uuid.UUID(s["id"]) for s in full["schedules"])
    assert (await client.get(f"/v1/openreferral/services/{hidden['id']}")).status_code == 404
    assert (await client.get(f"/v1/openreferral/services/{uuid.uuid4()}")).status_code == 404


async def test_services_paging_and_filters(client: httpx.AsyncClient, actors: Actors) -> None:
    p = await actors.client("offers:write", kind="provider")
    for i in range(3):
        await client.post("/v1/offers", json=offer_body(title=f"Offer {i}"), headers=p.headers)
    org = {"organization_id": str(p.organisation_id)}
    page2 = (
        await client.get("/v1/openreferral/services", params={**org, "page": 2, "per_page": 2})
    ).json()
    assert (page2["total_items"], page2["total_pages"], page2["size"]) == (3, 2, 1)
    assert page2["last_page"]
    assert not page2["first_page"]
    assert page2["contents"][0]["name"] == "Offer 2"
    beyond = (
        await client.get("/v1/openreferral/services", params={**org, "page": 3, "per_page": 2})
    ).json()
    assert beyond["empty"]
    assert beyond["contents"] == []
    later = await client.get(
        "/v1/openreferral/services", params={**org, "modified_after": "2999-01-01T00:00:00Z"}
    )
    assert later.json()["total_items"] == 0
    found = await client.get("/v1/openreferral/services", params={**org, "search": "emergency"})
    assert found.json()["total_items"] == 3
    for bad in ({"page": 0}, {"per_page": 101}, {"modified_after": "yesterday"}):
        r = await client.get("/v1/openreferral/services", params=bad)
        assert r.status_code == 422
        problem(r)
