"""Bad input: a clear problem document, never a 500, never an echo, nothing stored lost.

Each test here pins a failure found by fuzzing the API with schemathesis or by hand
(NUL characters, dates with no UTC time, bodies that are not UTF-8 or nest too deep,
caller-chosen key names in error locations, a demo profile no read could serialise).
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.demo import seed_demo
from tests.api.consent_helpers import make_leaver
from tests.api.offers_helpers import offer_body
from tests.conftest import problem
from tests.support import Actors

STORY = "SENTINEL-STORY-my-brother-and-the-flat-4711"
PIN_SENT = "SENTINEL-PIN-948372"
OFFENCE = "SENTINEL-OFFENCE-qq"
NUL = "\u0000"


def _assert_no_echo(response: httpx.Response, *sentinels: str) -> dict[str, Any]:
    body = problem(response)
    for sentinel in (*sentinels, NUL, "\\u0000"):
        assert sentinel not in response.text, response.text
    assert response.headers["cache-control"] == "no-store"
    return body


def _unprocessable(response: httpx.Response, *sentinels: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    body = _assert_no_echo(response, *sentinels)
    assert body["type"] == "/problems/validation-error"
    assert body["errors"], body
    return body


# --- NUL characters: PostgreSQL refuses them in text and JSONB --------------------------


async def test_nul_in_a_new_profile_is_422_at_its_location(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    kiosk = await actors.client("profiles:create", kind="establishment")
    r = await client.post(
        "/v1/profiles",
        json={"pin": "48291577", "data": {"story": {"summary": STORY + NUL}}},
        headers=kiosk.headers,
    )
    body = _unprocessable(r, STORY)
    assert body["errors"][0]["loc"] == ["body", "data", "story", "summary"]


async def test_nul_in_a_patch_is_422_and_the_profile_is_unchanged(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    leaver = await make_leaver(client, actors)
    before = await client.get("/v1/me", headers=leaver.headers)
    r = await client.patch(
        "/v1/me",
        content=json.dumps({"story": {"summary": STORY + NUL}}),
        headers={
            **leaver.headers,
            "Content-Type": "application/merge-patch+json",
            "If-Match": before.headers["etag"],
        },
    )
    body = _unprocessable(r, STORY)
    assert body["errors"][0]["loc"] == ["body", "story", "summary"]
    after = await client.get("/v1/me", headers=leaver.headers)
    assert after.json() == before.json()


async def test_nul_in_an_offer_is_422_on_create_and_replace(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    provider = await actors.client("offers:write", kind="provider")
    for bad in (
        {"title": "Night" + NUL + "shelter"},
        {"tags": ["ok", "bad" + NUL]},
        {"contact": {"email": "a@b.org" + NUL}},
    ):
        r = await client.post("/v1/offers", json=offer_body(**bad), headers=provider.headers)
        _unprocessable(r)
    created = await client.post("/v1/offers", json=offer_body(), headers=provider.headers)
    assert created.status_code == 201, created.text
    offer = created.json()
    r = await client.put(
        f"/v1/offers/{offer['id']}",
        json=offer_body(description=STORY + NUL),
        headers={**provider.headers, "If-Match": created.headers["etag"]},
    )
    body = _unprocessable(r, STORY)
    assert body["errors"][0]["loc"] == ["body", "description"]
    again = await client.get(f"/v1/offers/{offer['id']}", headers=provider.headers)
    assert again.json()["version"] == offer["version"]
    assert again.json()["description"] == offer["description"]


async def test_nul_in_an_organisation_name_is_422(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    admin = await actors.client("admin", kind="operator")
    r = await client.post(
        "/v1/admin/organisations",
        json={"name": "Reading" + NUL, "kind": "provider"},
        headers=admin.headers,
    )
    _unprocessable(r)
    r = await client.post("/v1/admin/clients/ab%00c/rotate-secret", headers=admin.headers)
    _unprocessable(r)


@pytest.mark.parametrize(
    "url",
    [
        "/v1/offers?q=a%00b",
        "/v1/organisations?q=%00",
        "/v1/openreferral/services?search=a%00",
    ],
)
async def test_nul_in_a_search_is_422(client: httpx.AsyncClient, url: str) -> None:
    _unprocessable(await client.get(url))


# --- dates and numbers with no place to go -------------------------------------------


@pytest.mark.parametrize("expected_at", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"])
async def test_a_release_time_with_no_utc_equivalent_is_422(
    client: httpx.AsyncClient, actors: Actors, expected_at: str
) -> None:
    kiosk = await actors.client("profiles:create", kind="establishment")
    r = await client.post(
        "/v1/profiles",
        json={"pin": "48291577", "data": {"release": {"expected_at": expected_at}}},
        headers=kiosk.headers,
    )
    body = _unprocessable(r, expected_at)
    assert body["errors"][0]["loc"] == ["body", "data", "release", "expected_at"]


async def test_query_datetimes_out_of_range_are_422(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    partner = await actors.client("profiles:read", kind="partner")
    _unprocessable(await client.get("/v1/offers", params={"open_at": "9999-12-31T23:59:59-12:00"}))
    _unprocessable(
        await client.get(
            "/v1/profiles",
            params={"updated_since": "0001-01-01T00:00:00+14:00"},
            headers=partner.headers,
        )
    )


async def test_open_referral_page_beyond_any_offset_is_422(client: httpx.AsyncClient) -> None:
    _unprocessable(await client.get("/v1/openreferral/services?page=99999999999999999999"))


# --- bodies that are not JSON objects ------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b'{"pin": "\xff\xfe"}', b'{"pin": "48291577", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}"],
    ids=["not-utf8", "too-deep"],
)
async def test_a_body_that_is_not_json_is_422_problem(
    client: httpx.AsyncClient, actors: Actors, raw: bytes
) -> None:
    kiosk = await actors.client("profiles:create", kind="establishment")
    r = await client.post(
        "/v1/profiles", content=raw, headers={**kiosk.headers, "Content-Type": "application/json"}
    )
    body = _unprocessable(r)
    assert body["errors"] == [{"loc": ["body"], "msg": "The body is not valid JSON"}]


async def test_patch_nested_deeper_than_the_parser_is_422_and_changes_nothing(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    leaver = await make_leaver(client, actors)
    before = await client.get("/v1/me", headers=leaver.headers)
    r = await client.patch(
        "/v1/me",
        content=b'{"plan": ' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"}",
        headers={
            **leaver.headers,
            "Content-Type": "application/merge-patch+json",
            "If-Match": "*",
        },
    )
    _unprocessable(r)
    assert (await client.get("/v1/me", headers=leaver.headers)).json() == before.json()


async def test_an_if_match_of_thousands_of_digits_is_412(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    leaver = await make_leaver(client, actors)
    r = await client.patch(
        "/v1/me",
        json={"story": None},
        headers={**leaver.headers, "If-Match": '"' + "9" * 5000 + '"'},
    )
    assert r.status_code == 412, r.text
    problem(r)


# --- error locations never carry what the caller chose --------------------------------


async def test_unknown_keys_are_not_echoed_in_error_locations(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    kiosk = await actors.client("profiles:create", kind="establishment")
    r = await client.post(
        "/v1/profiles",
        json={"pin": "48291577", "data": {"offence": {OFFENCE: OFFENCE, PIN_SENT: 1}}},
        headers=kiosk.headers,
    )
    body = _unprocessable(r, OFFENCE, PIN_SENT)
    assert {tuple(e["loc"]) for e in body["errors"]} == {("body", "data", "offence", "<unknown>")}
    # Even a plain typo of a field name is not named (API.md §0): the loc ends in <unknown>.
    r = await client.post(
        "/v1/profiles",
        json={"pin": "48291577", "data": {"identity": {"given_nme": "Jo"}}},
        headers=kiosk.headers,
    )
    assert _unprocessable(r, "given_nme")["errors"][0]["loc"] == [
        "body",
        "data",
        "identity",
        "<unknown>",
    ]

    leaver = await make_leaver(client, actors)
    r = await client.patch(
        "/v1/me",
        json={"story": {STORY: "x"}, "offence": {"summary": 12, "category": [OFFENCE]}},
        headers={**leaver.headers, "If-Match": "*"},
    )
    _unprocessable(r, STORY, OFFENCE)


async def test_an_invalid_uuid_is_not_quoted_back(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/openreferral/services", params={"organization_id": "Zebra" + NUL})
    body = _unprocessable(r, "Zebra")
    assert body["errors"][0]["msg"] == "Input should be a valid UUID"


# --- OAuth endpoints answer RFC 6749 JSON, also for NUL characters --------------------


async def test_nul_in_client_credentials_is_an_oauth_error(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "demo\x00", "client_secret": "x"},
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request"
    assert r.headers["cache-control"] == "no-store"
    basic = base64.b64encode(b"demo\x00:secret").decode()
    r = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "invalid_client"


async def test_introspecting_a_token_with_nul_is_simply_inactive(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    partner = await actors.client("profiles:read", kind="partner")
    r = await client.post(
        "/oauth/introspect",
        data={"token": "a\x00b"},
        auth=(partner.client_id, partner.client_secret),
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"active": False}


# --- the contract documents what is served --------------------------------------------


async def test_every_error_response_is_documented_as_problem_json(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    wrong = [
        (method, path, status, list(response.get("content", {})))
        for path, operations in spec["paths"].items()
        if not path.startswith("/oauth/")
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if status[0] in "45" and list(response.get("content", {})) != ["application/problem+json"]
    ]
    assert wrong == []
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert spec["components"]["schemas"]["Problem"]["required"] == [
        "type",
        "title",
        "status",
        "detail",
    ]


# --- the demo data set is readable ------------------------------------------------------


async def test_demo_leavers_can_read_and_patch_their_profile(
    app: FastAPI, client: httpx.AsyncClient, actors: Actors
) -> None:
    seeded = await seed_demo(app.state.db, app.state.settings)
    for leaver in seeded["leavers"]:
        headers = actors.leaver_headers(uuid.UUID(leaver["profile_id"]))
        r = await client.get("/v1/me", headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["data"]["needs"]
        r = await client.patch(
            "/v1/me",
            json={"contact": {"phone": "07700 900123"}},
            headers={**headers, "If-Match": r.headers["etag"]},
        )
        assert r.status_code == 200, r.text


# --- an unexpected error: a problem document, and nothing personal in the logs ----------


async def test_unexpected_error_is_a_500_problem_and_logs_no_values(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def boom() -> None:
        raise RuntimeError(STORY)

    app.add_api_route("/v1/test-only/boom", boom, methods=["GET"])
    with caplog.at_level("DEBUG"):
        r = await client.get("/v1/test-only/boom")
    assert r.status_code == 500
    body = _assert_no_echo(r, STORY)
    assert body["type"] == "/problems/internal-error"
    assert r.headers["x-content-type-options"] == "nosniff"  # passed through ResponseHeaders
    assert "RuntimeError" in caplog.text
    assert STORY not in caplog.text
