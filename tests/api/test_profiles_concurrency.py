"""Revocation against reads on separate connections, with real commits."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.api.consent_helpers import grant, make_leaver, revoke
from tests.support import Actors

pytestmark = pytest.mark.committed


async def test_a_read_after_the_revoke_commits_discloses_nothing(
    committed_client: httpx.AsyncClient, committed_actors: Actors
) -> None:
    client, actors = committed_client, committed_actors
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    made = await grant(client, leaver, partner.organisation_id, ["contact", "identity"])
    url = f"/v1/profiles/{leaver.id}"

    # Reads racing the revoke: each either sees the grant in full or not at all.
    async def read() -> int:
        response = await client.get(url, headers=partner.headers)
        if response.status_code == 200:
            assert response.json()["grant_ids"] == [made["id"]]
        return response.status_code

    racing = [asyncio.create_task(read()) for _ in range(4)]
    revoked = await revoke(client, leaver, made["id"])
    assert revoked.status_code == 200  # the response is sent after the commit
    statuses = await asyncio.gather(*racing)
    assert set(statuses) <= {200, 404}
    # Every read that starts after the revoke's commit sees nothing.
    after = await asyncio.gather(*(client.get(url, headers=partner.headers) for _ in range(3)))
    assert [r.status_code for r in after] == [404, 404, 404]
    assert all("SENTINEL" not in r.text for r in after)
    listed = (await client.get("/v1/profiles?limit=100", headers=partner.headers)).json()
    assert leaver.id not in [p["id"] for p in listed["items"]]


async def test_concurrent_patches_with_the_same_etag_one_wins(
    committed_client: httpx.AsyncClient, committed_actors: Actors
) -> None:
    client, actors = committed_client, committed_actors
    leaver = await make_leaver(client, actors)

    async def patch(phone: str) -> int:
        response = await client.patch(
            "/v1/me",
            json={"contact": {"phone": phone}},
            headers={**leaver.headers, "If-Match": '"1"'},
        )
        return response.status_code

    statuses = await asyncio.gather(patch("07700 900001"), patch("07700 900002"))
    assert sorted(statuses) == [200, 412]
    final = await client.get("/v1/me", headers=leaver.headers)
    assert final.headers["etag"] == '"2"'
