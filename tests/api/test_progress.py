"""Progress readings (API.md §5): validation, history newest first, progress.latest."""

from __future__ import annotations

import uuid

import httpx
import pytest

from app.models import Profile
from tests.api.identity_helpers import make_profile
from tests.conftest import problem
from tests.support import Actors


async def _profile(actors: Actors, data: dict[str, object] | None = None) -> uuid.UUID:
    profile_id, _ = await make_profile(actors.db, data=data)
    return profile_id


async def test_record_and_list_newest_first(client: httpx.AsyncClient, actors: Actors) -> None:
    me = actors.leaver_headers(await _profile(actors))
    first = await client.post(
        "/v1/me/progress", json={"readings": {"accommodation": 2}}, headers=me
    )
    assert first.status_code == 201, first.text
    assert first.headers["cache-control"] == "no-store"
    second = await client.post(
        "/v1/me/progress", json={"readings": {"accommodation": 5, "mental_health": 7}}, headers=me
    )
    assert second.status_code == 201
    body = second.json()
    assert body["readings"] == {"accommodation": 5, "mental_health": 7}
    assert set(body) == {"id", "readings", "recorded_at"}

    listed = await client.get("/v1/me/progress", headers=me)
    assert listed.status_code == 200
    ids = [item["id"] for item in listed.json()["items"]]
    assert ids == [second.json()["id"], first.json()["id"]]
    assert listed.json()["next_cursor"] is None


async def test_pagination(client: httpx.AsyncClient, actors: Actors) -> None:
    me = actors.leaver_headers(await _profile(actors))
    made = []
    for score in range(1, 6):
        r = await client.post(
            "/v1/me/progress", json={"readings": {"use_of_time": score}}, headers=me
        )
        made.append(r.json()["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/me/progress", params=params, headers=me)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(made))


async def test_latest_reading_is_in_the_profile(client: httpx.AsyncClient, actors: Actors) -> None:
    pid = await _profile(actors, {"contact": {"phone": "07700 900001"}})
    me = actors.leaver_headers(pid)
    r = await client.post("/v1/me/progress", json={"readings": {"crime_free_life": 9}}, headers=me)
    async with actors.db.sessionmaker() as session:
        profile = await session.get(Profile, pid)
        assert profile is not None
        latest = profile.data["progress"]["latest"]
        assert profile.data["contact"] == {"phone": "07700 900001"}
        assert profile.version == 2
    assert latest["id"] == r.json()["id"]
    assert latest["readings"] == {"crime_free_life": 9}


@pytest.mark.parametrize(
    "body",
    [
        {"readings": {"accommodation": 0}},
        {"readings": {"accommodation": 11}},
        {"readings": {"accommodation": 5.5}},
        {"readings": {"accommodation": "5"}},
        {"readings": {"accommodation": True}},
        {"readings": {"astrology": 5}},
        {"readings": {}},
        {"readings": {"accommodation": 5}, "extra": 1},
        {},
    ],
)
async def test_invalid_readings_are_422(
    client: httpx.AsyncClient, actors: Actors, body: dict[str, object]
) -> None:
    me = actors.leaver_headers(await _profile(actors))
    r = await client.post("/v1/me/progress", json=body, headers=me)
    assert r.status_code == 422
    assert problem(r)["errors"]
    listed = (await client.get("/v1/me/progress", headers=me)).json()
    assert listed["items"] == []


async def test_progress_needs_a_leaver_token(client: httpx.AsyncClient, actors: Actors) -> None:
    partner = await actors.client("profiles:read")
    r = await client.get("/v1/me/progress", headers=partner.headers)
    assert r.status_code == 403
    assert "insufficient_scope" in r.headers["www-authenticate"]
    r = await client.get("/v1/me/progress")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
