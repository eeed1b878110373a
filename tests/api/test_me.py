"""GET and PATCH /v1/me: the leaver's own view, merge patch with If-Match."""

from __future__ import annotations

import httpx

from tests.api.consent_helpers import grant, make_leaver
from tests.conftest import problem
from tests.support import Actors

MERGE = {"Content-Type": "application/merge-patch+json"}


async def test_leaver_reads_their_whole_profile_with_an_etag(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    leaver = await make_leaver(client, actors)
    response = await client.get("/v1/me", headers=leaver.headers)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "reference", "data", "version", "created_at", "updated_at"}
    assert body["id"] == leaver.id
    assert body["reference"] == leaver.reference
    assert body["data"]["story"]["summary"] == "SENTINEL-story"
    assert body["data"]["release"]["expected_at"] == "2026-12-04T09:00:00Z"
    assert "progress" not in body["data"]  # absent sections are omitted, not null
    assert response.headers["etag"] == '"1"'
    assert response.headers["cache-control"] == "no-store"


async def test_patch_merges_removes_and_bumps_the_version(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    leaver = await make_leaver(client, actors)
    response = await client.patch(
        "/v1/me",
        content=b'{"contact": {"phone": "07700 900999", "email": null}, "story": null}',
        headers={**leaver.headers, **MERGE, "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["etag"] == '"2"'
    assert body["version"] == 2
    assert body["data"]["contact"]["phone"] == "07700 900999"
    assert "email" not in body["data"]["contact"]
    assert "story" not in body["data"]
    assert body["data"]["identity"]["given_name"] == "SENTINEL-given"  # untouched
    again = await client.get("/v1/me", headers=leaver.headers)
    assert again.json() == body


async def test_patch_needs_if_match_and_refuses_a_stale_one(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    leaver = await make_leaver(client, actors)
    patch = b'{"contact": {"phone": "07700 900111"}}'
    missing = await client.patch("/v1/me", content=patch, headers={**leaver.headers, **MERGE})
    assert missing.status_code == 428
    problem(missing)
    ok = await client.patch(
        "/v1/me", content=patch, headers={**leaver.headers, **MERGE, "If-Match": '"1"'}
    )
    assert ok.status_code == 200
    stale = await client.patch(
        "/v1/me", content=patch, headers={**leaver.headers, **MERGE, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    problem(stale)
    weak = await client.patch(
        "/v1/me", content=patch, headers={**leaver.headers, **MERGE, "If-Match": 'W/"2"'}
    )
    assert weak.status_code == 412
    star = await client.patch(
        "/v1/me", content=patch, headers={**leaver.headers, **MERGE, "If-Match": "*"}
    )
    assert star.status_code == 200
    assert star.headers["etag"] == '"3"'


async def test_patch_result_must_validate_and_is_not_echoed(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    leaver = await make_leaver(client, actors)
    response = await client.patch(
        "/v1/me",
        json={"story": {"summary": "PRIVATE" * 700}},
        headers={**leaver.headers, "If-Match": '"1"'},
    )
    assert response.status_code == 422
    assert "PRIVATE" not in response.text
    assert problem(response)["errors"][0]["loc"] == ["body", "story", "summary"]
    # nothing changed
    assert (await client.get("/v1/me", headers=leaver.headers)).headers["etag"] == '"1"'


async def test_patch_refuses_unknown_keys_progress_and_bad_bodies(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    leaver = await make_leaver(client, actors)
    h = {**leaver.headers, **MERGE, "If-Match": '"1"'}
    unknown = await client.patch("/v1/me", content=b'{"contact": {"fax": "1"}}', headers=h)
    assert unknown.status_code == 422
    progress = await client.patch("/v1/me", content=b'{"progress": {"latest": null}}', headers=h)
    assert progress.status_code == 422
    assert problem(progress)["errors"][0]["loc"] == ["body", "progress"]
    not_object = await client.patch("/v1/me", content=b'["a"]', headers=h)
    assert not_object.status_code == 422
    not_json = await client.patch("/v1/me", content=b"{nope", headers=h)
    assert not_json.status_code == 422
    wrong_type = await client.patch(
        "/v1/me",
        content=b"{}",
        headers={**leaver.headers, "Content-Type": "text/plain", "If-Match": '"1"'},
    )
    assert wrong_type.status_code == 415
    problem(wrong_type)


async def test_me_needs_a_leaver_token(client: httpx.AsyncClient, actors: Actors) -> None:
    partner = await actors.client("profiles:read")
    assert (await client.get("/v1/me", headers=partner.headers)).status_code == 403
    assert (await client.get("/v1/me")).status_code == 401


async def test_tell_us_once(client: httpx.AsyncClient, actors: Actors) -> None:
    """One PATCH, seen by every organisation the leaver shares contact details with."""
    leaver = await make_leaver(client, actors)
    housing = await actors.client("profiles:read")
    probation = await actors.client("profiles:read")
    for org in (housing, probation):
        await grant(client, leaver, org.organisation_id, ["contact"])
    response = await client.patch(
        "/v1/me",
        json={"contact": {"phone": "07700 900555"}},
        headers={**leaver.headers, "If-Match": '"1"'},
    )
    assert response.status_code == 200
    for org in (housing, probation):
        seen = await client.get(f"/v1/profiles/{leaver.id}", headers=org.headers)
        assert seen.status_code == 200
        assert seen.json()["data"]["contact"]["phone"] == "07700 900555"
        assert seen.json()["version"] == 2
