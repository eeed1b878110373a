"""HTTP details of API.md §0 that only show from outside: Allow on 405, the framework's own
404/405/415 as problem documents, 415 for every JSON operation given another media type,
RFC 3339 date-time parameters, messages in plain words, one If-Match parser."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
import yaml

from app.auth.scopes import CLIENT_SCOPES, SELF
from app.errors import PATTERN_WORDS
from tests.api.offers_helpers import offer_body
from tests.conftest import ROOT, problem
from tests.support import Actors

SPEC: dict[str, Any] = yaml.safe_load((ROOT / "openapi.yaml").read_text())
METHODS = ("get", "put", "post", "patch", "delete")


def concrete(path: str) -> str:
    """The path with every parameter replaced by a well-formed id."""
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


# --- 405: Allow lists every method of the path ------------------------------------------


async def test_put_me_lists_get_patch_and_delete(client: httpx.AsyncClient) -> None:
    r = await client.put("/v1/me")
    assert r.status_code == 405
    assert [m.strip() for m in r.headers["allow"].split(",")] == ["GET", "PATCH", "DELETE"]
    body = problem(r)
    assert body["type"] == "/problems/method-not-allowed"
    assert "Allow" in body["detail"]


async def test_every_path_allows_exactly_its_documented_methods(
    client: httpx.AsyncClient,
) -> None:
    """Every method some operation of the spec serves at that URL: its own path's, and a
    templated path's that also matches it (`GET /v1/profiles/{id}` takes
    `/v1/profiles/pin-reset` too)."""
    templates = {
        path: re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
        for path in SPEC["paths"]
    }
    checked = 0
    for path in SPEC["paths"]:
        url = concrete(path)
        served = {
            m.upper()
            for other, regex in templates.items()
            if regex.match(url)
            for m in SPEC["paths"][other]
            if m in METHODS
        }
        missing = next(
            m for m in ("delete", "put", "patch", "post", "get") if m.upper() not in served
        )
        r = await client.request(missing.upper(), url)
        assert r.status_code == 405, (path, missing, r.status_code)
        allow = {m.strip() for m in r.headers["allow"].split(",")}
        assert allow == served, (path, allow)
        assert problem(r)["type"] == "/problems/method-not-allowed"
        checked += 1
    assert checked == len(SPEC["paths"])


# --- the framework's own 404 and 415 -------------------------------------------------------


async def test_unknown_path_is_the_apps_not_found_problem(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/no-such-thing")
    assert r.status_code == 404
    body = problem(r)
    assert body["type"] == "/problems/not-found"
    assert body["title"] == "Not found"


def json_operations() -> list[tuple[str, str, list[str]]]:
    found = []
    for path, operations in SPEC["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                scopes = sorted(
                    {s for req in operation.get("security", []) for v in req.values() for s in v}
                )
                found.append((method, path, scopes))
    return found


async def _headers_for(actors: Actors, scopes: list[str]) -> dict[str, str]:
    if SELF in scopes:
        return actors.leaver_headers(uuid.uuid4())
    if not scopes:
        return {}
    return (await actors.client(*CLIENT_SCOPES, kind="provider")).headers


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("text/plain", b'{"organisation_id": "x"}'),
        ("application/x-www-form-urlencoded", b"fields=identity&purpose=referral"),
        ("application/xml", b"<grant/>"),
        (None, b'{"a": 1}'),
    ],
)
async def test_every_json_operation_refuses_other_media_types_with_415(
    client: httpx.AsyncClient, actors: Actors, content_type: str | None, content: bytes
) -> None:
    operations = json_operations()
    assert ("post", "/v1/me/consents", [SELF]) in operations
    for method, path, scopes in operations:
        headers = await _headers_for(actors, scopes)
        if content_type is not None:
            headers["Content-Type"] = content_type
        r = await client.request(method.upper(), concrete(path), content=content, headers=headers)
        assert r.status_code == 415, (method, path, content_type, r.status_code, r.text)
        body = problem(r)
        assert body["type"] == "/problems/unsupported-media-type"
        assert "application/json" in body["detail"]


async def test_json_with_a_charset_or_a_json_suffix_is_still_json(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    admin = await actors.client("admin", kind="operator")
    for content_type in ("application/json; charset=utf-8", "application/vnd.onward+json"):
        r = await client.post(
            "/v1/admin/organisations",
            content=b'{"name": "Media Type Trust", "kind": "partner"}',
            headers={**admin.headers, "Content-Type": content_type},
        )
        assert r.status_code == 201, r.text


async def test_a_missing_json_body_is_still_a_422(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    admin = await actors.client("admin", kind="operator")
    r = await client.post("/v1/admin/organisations", headers=admin.headers)
    assert r.status_code == 422
    assert problem(r)["errors"][0]["loc"] == ["body"]


# --- date-time query parameters: RFC 3339 with an offset, everywhere -----------------------

DATE_TIME_PARAMETERS = [
    ("/v1/offers", "open_at", None),
    ("/v1/openreferral/services", "modified_after", None),
    ("/v1/profiles", "updated_since", "profiles:read"),
]


def test_every_date_time_query_parameter_is_listed_here() -> None:
    """A new date-time parameter must be added above (and use app.api.params.DateTimeParam)."""
    found = set()
    for path, operations in SPEC["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                schemas = [parameter["schema"], *parameter["schema"].get("anyOf", [])]
                if parameter["in"] == "query" and any(
                    s.get("format") == "date-time" for s in schemas
                ):
                    found.add((path, parameter["name"]))
    assert found == {(path, name) for path, name, _ in DATE_TIME_PARAMETERS}


@pytest.mark.parametrize(("path", "name", "scope"), DATE_TIME_PARAMETERS)
@pytest.mark.parametrize(
    "value", ["0.5", "0", "1764000000", "2026-05-01", "2026-05-01T14:00:00", "yesterday", ""]
)
async def test_date_time_parameters_refuse_numbers_dates_and_missing_offsets(
    client: httpx.AsyncClient, actors: Actors, path: str, name: str, scope: str | None, value: str
) -> None:
    headers = (await actors.client(scope)).headers if scope else {}
    r = await client.get(path, params={name: value}, headers=headers)
    assert r.status_code == 422, (path, name, value, r.text)
    errors = problem(r)["errors"]
    assert errors[0]["loc"] == ["query", name]
    assert "RFC 3339" in errors[0]["msg"]


@pytest.mark.parametrize(("path", "name", "scope"), DATE_TIME_PARAMETERS)
async def test_date_time_parameters_take_rfc3339_with_any_offset(
    client: httpx.AsyncClient, actors: Actors, path: str, name: str, scope: str | None
) -> None:
    headers = (await actors.client(scope)).headers if scope else {}
    for value in ("2026-05-01T14:00:00Z", "2026-05-01T15:00:00.5+01:00"):
        r = await client.get(path, params={name: value}, headers=headers)
        assert r.status_code == 200, (path, value, r.text)


# --- messages are plain words, never a regular expression --------------------------------

_REGEX_SIGNS = re.compile(r"\^|\$|\[[^\]]*\]|\{\d+(,\d*)?\}|\\[sdw]")


async def test_an_invalid_area_is_explained_in_words(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/offers", params={"area": "Reading"})
    assert r.status_code == 422
    (error,) = problem(r)["errors"]
    assert error["loc"] == ["query", "area"]
    assert "E06000038" in error["msg"]
    assert "ENSW" not in r.text
    assert not _REGEX_SIGNS.search(error["msg"]), error


async def test_patterns_in_a_profile_are_explained_in_words(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    kiosk = await actors.client("profiles:create", kind="establishment")
    r = await client.post(
        "/v1/profiles",
        json={
            "pin": "4829157",
            "data": {
                "contact": {"phone": "call me", "email": "nobody"},
                "release": {"area": "Reading"},
                "preferences": {"language": "English please"},
            },
        },
        headers=kiosk.headers,
    )
    assert r.status_code == 422
    messages = [e["msg"] for e in problem(r)["errors"]]
    assert len(messages) == 4, messages
    assert not any(_REGEX_SIGNS.search(m) for m in messages), messages
    assert any("phone number" in m for m in messages)
    assert any("email address" in m for m in messages)
    assert any("language tag" in m for m in messages)


def test_every_pattern_of_the_spec_has_plain_words() -> None:
    patterns = set(re.findall(r"^\s*pattern: (.*)$", (ROOT / "openapi.yaml").read_text(), re.M))
    parsed = {
        yaml.safe_load(f"p: {p}")["p"] for p in patterns
    }  # as the model declares it, unquoted
    assert parsed, "no patterns found"
    assert parsed <= PATTERN_WORDS.keys(), parsed - PATTERN_WORDS.keys()
    for words in PATTERN_WORDS.values():
        assert not _REGEX_SIGNS.search(words), words


# --- If-Match: one parser for the profile and for offers -----------------------------------


async def _profile_and_offer(
    client: httpx.AsyncClient, actors: Actors
) -> tuple[dict[str, str], dict[str, str], str, dict[str, Any]]:
    kiosk = await actors.client("profiles:create", kind="establishment")
    made = await client.post(
        "/v1/profiles", json={"pin": "4829157", "data": {}}, headers=kiosk.headers
    )
    assert made.status_code == 201, made.text
    leaver = actors.leaver_headers(made.json()["id"])
    provider = await actors.client("offers:write", kind="provider")
    offer = offer_body(status="draft")
    created = await client.post("/v1/offers", json=offer, headers=provider.headers)
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == '"1"'
    return leaver, provider.headers, f"/v1/offers/{created.json()['id']}", offer


async def _send(
    client: httpx.AsyncClient,
    which: str,
    if_match: str,
    setup: tuple[dict[str, str], dict[str, str], str, dict[str, Any]],
) -> httpx.Response:
    leaver, provider, offer_url, offer = setup
    if which == "profile":
        return await client.patch(
            "/v1/me",
            json={"preferences": {"interpreter": True}},
            headers={**leaver, "If-Match": if_match},
        )
    return await client.put(offer_url, json=offer, headers={**provider, "If-Match": if_match})


@pytest.mark.parametrize("which", ["profile", "offer"])
@pytest.mark.parametrize("if_match", ["1", "W/1", '"1', "1, 2", '"1" "2"', '*, "1"'])
async def test_an_unquoted_if_match_is_a_400_saying_it_must_be_quoted(
    client: httpx.AsyncClient, actors: Actors, which: str, if_match: str
) -> None:
    setup = await _profile_and_offer(client, actors)
    r = await _send(client, which, if_match, setup)
    assert r.status_code == 400, r.text
    body = problem(r)
    assert body["type"] == "/problems/bad-request"
    assert "quoted entity tag" in body["detail"]


@pytest.mark.parametrize("which", ["profile", "offer"])
async def test_a_weak_tag_never_matches_on_either_resource(
    client: httpx.AsyncClient, actors: Actors, which: str
) -> None:
    """RFC 9110 §13.1.1: If-Match compares strongly, so W/"1" is a 412 on both resources."""
    setup = await _profile_and_offer(client, actors)
    r = await _send(client, which, 'W/"1"', setup)
    assert r.status_code == 412, r.text
    assert problem(r)["type"] == "/problems/precondition-failed"


@pytest.mark.parametrize("which", ["profile", "offer"])
@pytest.mark.parametrize("if_match", ['"1"', '"7", "1"', ' "1" ', "*", '"7",, "1"', 'W/"1", "1"'])
async def test_well_formed_if_match_lists_match_alike(
    client: httpx.AsyncClient, actors: Actors, which: str, if_match: str
) -> None:
    setup = await _profile_and_offer(client, actors)
    r = await _send(client, which, if_match, setup)
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"'


@pytest.mark.parametrize("which", ["profile", "offer"])
async def test_missing_and_stale_if_match_alike(
    client: httpx.AsyncClient, actors: Actors, which: str
) -> None:
    setup = await _profile_and_offer(client, actors)
    assert (await _send(client, which, "", setup)).status_code == 428
    assert (await _send(client, which, '"7"', setup)).status_code == 412
    assert (await _send(client, which, '"' + "9" * 40 + '"', setup)).status_code == 412
