"""Referral moves racing each other on separate connections, with real commits."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.api.referral_helpers import move, referred, scene
from tests.support import Actors

pytestmark = pytest.mark.committed


async def test_racing_provider_moves_one_wins(
    committed_client: httpx.AsyncClient, committed_actors: Actors
) -> None:
    client = committed_client
    s = await scene(client, committed_actors)
    referral = await referred(client, s.leaver, s.offer)
    answers = await asyncio.gather(
        move(client, s.provider, referral["id"], "accepted"),
        move(client, s.provider, referral["id"], "declined"),
    )
    assert sorted(a.status_code for a in answers) == [200, 409]
    winner = next(a for a in answers if a.status_code == 200).json()["status"]
    final = (await client.get(f"/v1/referrals/{referral['id']}", headers=s.provider.headers)).json()
    assert final["status"] == winner
    assert [h["status"] for h in final["history"]] == ["pending", winner]


async def test_withdraw_racing_a_move_leaves_a_consistent_referral(
    committed_client: httpx.AsyncClient, committed_actors: Actors
) -> None:
    client = committed_client
    s = await scene(client, committed_actors)
    referral = await referred(client, s.leaver, s.offer)
    withdraw, accept = await asyncio.gather(
        client.post(f"/v1/me/referrals/{referral['id']}/withdraw", headers=s.leaver.headers),
        move(client, s.provider, referral["id"], "accepted"),
    )
    # The leaver can always withdraw an open referral; the move wins only if it came first.
    assert withdraw.status_code == 200
    assert accept.status_code in {200, 409}
    final = (
        await client.get(f"/v1/me/referrals/{referral['id']}", headers=s.leaver.headers)
    ).json()
    expected = (
        ["pending", "accepted", "withdrawn"]
        if accept.status_code == 200
        else [
            "pending",
            "withdrawn",
        ]
    )
    assert [h["status"] for h in final["history"]] == expected
    read = await client.get(f"/v1/profiles/{s.leaver.id}", headers=s.provider.headers)
    assert read.status_code == 404
