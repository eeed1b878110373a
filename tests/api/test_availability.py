"""Availability and input (issue 11): no input makes a 5xx, and a 422 stays small and quiet.

* Full-text searches are rebuilt from bounded words before PostgreSQL parses them: 33
  dashes used to overflow the server's tsquery stack ("tsquery stack too small", a 500).
* Whatever a search or a value still trips in the database (SQLSTATE class 22 or 54, a
  tsquery error) is a 422 problem, mapped in one place.
* A 422 lists at most 20 errors and never names an unknown key: its ``loc`` ends in
  ``"<unknown>"``.
* ``release.expected_at`` outside the years 2000–2100 is refused on create and on PATCH.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from app.api.session import Session
from app.offers.service import MAX_SEARCH_TERMS, web_search
from tests.api.consent_helpers import make_leaver
from tests.api.offers_helpers import offer_body
from tests.conftest import problem
from tests.support import Actors

SEARCH_URLS = ("/v1/offers?q={}", "/v1/openreferral/services?search={}")
DASHES = "-" * 33
SENTINEL = "SENTINEL-KEY-5521"


def _not_5xx(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text


async def _publish(client: httpx.AsyncClient, actors: Actors, **overrides: Any) -> str:
    provider = await actors.client("offers:write", kind="provider")
    r = await client.post("/v1/offers", json=offer_body(**overrides), headers=provider.headers)
    assert r.status_code == 201, r.text
    offer_id: str = r.json()["id"]
    return offer_id


def _found(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    body = response.json()
    return [item["id"] for item in body.get("items", body.get("contents", []))]


# --- full-text search ----------------------------------------------------------------


@pytest.mark.parametrize("template", SEARCH_URLS)
@pytest.mark.parametrize(
    "typed",
    [DASHES, "-" * 200, DASHES + "shelter", "shelter " + DASHES, "- " * 100, '"' + DASHES + '"'],
)
async def test_a_run_of_dashes_is_no_500(
    client: httpx.AsyncClient, template: str, typed: str
) -> None:
    r = await client.get(template.format(httpx.QueryParams({"q": typed})["q"]))
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == "*"


async def test_web_search_syntax_still_works_on_both_paths(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    shelter = await _publish(client, actors, title="Night shelter beds")
    food = await _publish(client, actors, title="Food bank parcels", summary="Food each week.")
    for template in SEARCH_URLS:
        assert shelter in _found(await client.get(template.format("shelter")))
        assert shelter not in _found(await client.get(template.format("shelter -beds")))
        both = _found(await client.get(template.format("shelter or parcels")))
        assert {shelter, food} <= set(both)
        phrase = _found(await client.get(template.format('"food bank"')))
        assert food in phrase
        assert shelter not in phrase
        # Dashes galore before a word: still one negation, not a server error.
        assert shelter not in _found(await client.get(template.format(DASHES + "beds")))
        # Nothing searchable typed: nothing matches (not everything).
        assert _found(await client.get(template.format("%21%21%21"))) == []


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    typed=st.one_of(
        st.lists(
            st.sampled_from([*"-\"!&|():*<>\\' \t", "or", "OR", "x", "é", "1", "-x", "shelter"]),
            min_size=1,
            max_size=120,
        ).map(lambda parts: "".join(parts)[:200]),
        st.text(min_size=1, max_size=200),
    )
)
async def test_fuzzy_searches_never_answer_5xx(client: httpx.AsyncClient, typed: str) -> None:
    if not typed.strip():
        return
    for path, name in (("/v1/offers", "q"), ("/v1/openreferral/services", "search")):
        r = await client.get(path, params={name: typed})
        _not_5xx(r)
        # A NUL character is refused (422) as in every other field; the rest is searched.
        assert r.status_code == (422 if "\x00" in typed else 200), r.text


@given(st.text(max_size=400))
def test_web_search_is_bounded_words_and_operators(typed: str) -> None:
    safe = web_search(typed)
    terms = re.findall(r'"[^"]*"|\S+', safe)
    assert len(terms) <= MAX_SEARCH_TERMS
    for term in terms:
        if term.startswith('"'):
            assert re.fullmatch(r'"\w+( \w+)*"', term), term
        else:
            # one optional "-" (not), then words joined by single hyphens; or "or"
            assert re.fullmatch(r"-?\w+(-\w+)*", term), term
    assert not safe.startswith("or ")
    assert not safe.endswith(" or")


# --- database errors caused by input: 422, mapped centrally ----------------------------

_STATEMENTS = {
    # elog(ERROR) inside the tsquery parser: SQLSTATE XX000 naming tsquery
    "tsquery": "SELECT websearch_to_tsquery('english', repeat('-', 40) || 'x')",
    # 54000 program_limit_exceeded
    "limit": "SELECT length(repeat('x', 1073741824))",
    # 22012 division_by_zero (class 22, data exception)
    "data": "SELECT 1 / (SELECT 0)",
    # 42P01 undefined_table: a fault of ours, not of the input
    "fault": "SELECT * FROM no_such_table_at_all",
}


@pytest.fixture
def sql_app(app: FastAPI) -> FastAPI:
    @app.get("/_test/sql/{case}")
    async def run(case: str, session: Session) -> dict[str, str]:
        await session.execute(text(_STATEMENTS[case]))
        return {"ok": "yes"}

    return app


@pytest.mark.parametrize("case", ["tsquery", "limit", "data"])
async def test_database_errors_caused_by_input_are_422(sql_app: FastAPI, case: str) -> None:
    transport = httpx.ASGITransport(app=sql_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.get(f"/_test/sql/{case}")
    assert r.status_code == 422, r.text
    body = problem(r)
    assert body["type"] == "/problems/validation-error"
    assert "tsquery" not in r.text
    assert "SELECT" not in r.text


async def test_other_database_errors_stay_500(sql_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=sql_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.get("/_test/sql/fault")
    assert r.status_code == 500
    assert problem(r)["type"] == "/problems/internal-error"


# --- 422: at most 20 errors, no unknown key named -------------------------------------


async def test_unknown_keys_end_in_unknown_and_are_never_named(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    kiosk = await actors.client("profiles:create", kind="establishment")
    r = await client.post(
        "/v1/profiles",
        json={"pin": "48291577", "data": {"identity": {"given_nme": "Jo", SENTINEL: 1}}},
        headers=kiosk.headers,
    )
    assert r.status_code == 422, r.text
    body = problem(r)
    assert [e["loc"] for e in body["errors"]] == [["body", "data", "identity", "<unknown>"]] * 2
    assert "given_nme" not in r.text
    assert SENTINEL not in r.text
    # Top level too, and on a merge patch of the leaver's own profile.
    r = await client.post(
        "/v1/profiles", json={"pin": "48291577", "pin_code": "48291577"}, headers=kiosk.headers
    )
    assert problem(r)["errors"] == [
        {"loc": ["body", "<unknown>"], "msg": "Unknown field: it is not part of this request"}
    ]
    assert "pin_code" not in r.text
    leaver = await make_leaver(client, actors)
    r = await client.patch(
        "/v1/me",
        content=json.dumps({"contact": {"phone_number": "07700900000"}}),
        headers={
            **leaver.headers,
            "Content-Type": "application/merge-patch+json",
            "If-Match": "*",
        },
    )
    assert r.status_code == 422, r.text
    assert [e["loc"] for e in problem(r)["errors"]] == [["body", "contact", "<unknown>"]]
    assert "phone_number" not in r.text
    assert "07700900000" not in r.text


async def test_an_invalid_dict_key_is_masked_in_every_error_about_it(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    leaver = await make_leaver(client, actors)
    r = await client.post(
        "/v1/me/progress",
        json={"readings": {"my_pin_is_948372": 99, "accommodation": 0}},
        headers=leaver.headers,
    )
    assert r.status_code == 422, r.text
    locs = [e["loc"] for e in problem(r)["errors"]]
    assert ["body", "readings", "<unknown>"] in locs
    assert ["body", "readings", "accommodation"] in locs  # one of ours: named
    assert "my_pin_is_948372" not in r.text
    assert "948372" not in r.text


async def test_a_422_lists_at_most_20_errors(client: httpx.AsyncClient, actors: Actors) -> None:
    kiosk = await actors.client("profiles:create", kind="establishment")
    many = {f"key_{i}": i for i in range(500)}
    r = await client.post(
        "/v1/profiles", json={"pin": "48291577", "data": {"identity": many}}, headers=kiosk.headers
    )
    assert r.status_code == 422
    assert len(problem(r)["errors"]) == 20
    leaver = await make_leaver(client, actors)
    r = await client.patch(
        "/v1/me",
        content=json.dumps({"identity": many}),
        headers={
            **leaver.headers,
            "Content-Type": "application/merge-patch+json",
            "If-Match": "*",
        },
    )
    assert r.status_code == 422
    assert len(problem(r)["errors"]) == 20
    assert "key_1" not in r.text


# --- release.expected_at: the years 2000 to 2100 ----------------------------------------


@pytest.mark.parametrize(
    "expected_at",
    [
        "1999-12-31T23:59:59Z",
        "2101-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "9999-01-01T00:00:00Z",
    ],
)
async def test_release_outside_2000_to_2100_is_422_on_create_and_patch(
    client: httpx.AsyncClient, actors: Actors, expected_at: str
) -> None:
    kiosk = await actors.client("profiles:create", kind="establishment")
    r = await client.post(
        "/v1/profiles",
        json={"pin": "48291577", "data": {"release": {"expected_at": expected_at}}},
        headers=kiosk.headers,
    )
    assert r.status_code == 422, r.text
    assert problem(r)["errors"][0]["loc"] == ["body", "data", "release", "expected_at"]
    assert expected_at not in r.text

    leaver = await make_leaver(client, actors)
    before = await client.get("/v1/me", headers=leaver.headers)
    r = await client.patch(
        "/v1/me",
        content=json.dumps({"release": {"expected_at": expected_at}}),
        headers={
            **leaver.headers,
            "Content-Type": "application/merge-patch+json",
            "If-Match": before.headers["etag"],
        },
    )
    assert r.status_code == 422, r.text
    assert problem(r)["errors"][0]["loc"] == ["body", "release", "expected_at"]
    after = await client.get("/v1/me", headers=leaver.headers)
    assert after.json() == before.json()


@pytest.mark.parametrize("expected_at", ["2000-01-01T00:00:00Z", "2100-12-31T23:59:59Z"])
async def test_release_at_the_edges_of_the_range_is_accepted(
    client: httpx.AsyncClient, actors: Actors, expected_at: str
) -> None:
    kiosk = await actors.client("profiles:create", kind="establishment")
    r = await client.post(
        "/v1/profiles",
        json={"pin": "48291577", "data": {"release": {"expected_at": expected_at}}},
        headers=kiosk.headers,
    )
    assert r.status_code == 201, r.text
