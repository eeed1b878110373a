"""Referral requests racing each other on separate connections, with real commits."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.api.referral_helpers import move, refer, referred, scene
from tests.conftest import problem
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


async def test_racing_referrals_to_one_offer_make_one(
    committed_client: httpx.AsyncClient, committed_actors: Actors
) -> None:
    client = committed_client
    s = await scene(client, committed_actors)
    answers = await asyncio.gather(*(refer(client, s.leaver, s.offer) for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    for refused in (a for a in answers if a.status_code == 409):
        assert problem(refused)["type"].endswith("/conflict")
    made = next(a for a in answers if a.status_code == 201).json()
    mine = (await client.get("/v1/me/referrals", headers=s.leaver.headers)).json()["items"]
    assert [r["id"] for r in mine] == [made["id"]]
    # The losers' grants went with them.
    grants = (await client.get("/v1/me/consents", headers=s.leaver.headers)).json()["items"]
    assert [g["id"] for g in grants] == [made["grant_id"]]


async def test_a_referral_losing_the_race_at_the_index_is_409_and_leaves_nothing(
    committed_client: httpx.AsyncClient, committed_actors: Actors
) -> None:
    """Deterministically the race the up-front check cannot see: another transaction
    holds an uncommitted open referral for the same leaver and offer while the request
    runs. The request's INSERT waits on the unique index, finds the referral committed,
    inserts nothing and answers 409; the grant it had made is rolled back with it."""
    client = committed_client
    s = await scene(client, committed_actors)
    first = await referred(client, s.leaver, s.offer)
    withdrawn = await client.post(
        f"/v1/me/referrals/{first['id']}/withdraw", headers=s.leaver.headers
    )
    assert withdrawn.status_code == 200
    engine = committed_actors.db.engine
    async with engine.connect() as rival:
        transaction = await rival.begin()
        # Reopened, not yet committed: invisible to the request's up-front check.
        await rival.execute(
            text("UPDATE referrals SET status = 'pending' WHERE id = :id"), {"id": first["id"]}
        )
        request = asyncio.ensure_future(refer(client, s.leaver, s.offer))
        await _until_waiting_on(engine, rival)
        await transaction.commit()
        answer = await request
    assert answer.status_code == 409, answer.text
    assert problem(answer)["type"].endswith("/conflict")
    mine = (await client.get("/v1/me/referrals", headers=s.leaver.headers)).json()["items"]
    assert [r["id"] for r in mine] == [first["id"]]
    grants = (await client.get("/v1/me/consents", headers=s.leaver.headers)).json()["items"]
    assert [g["id"] for g in grants] == [first["grant_id"]]


async def _until_waiting_on(engine: AsyncEngine, holder: AsyncConnection) -> None:
    """Until some backend is blocked by ``holder``'s transaction (generous bound: this is
    a wait for a state, not a timing assertion)."""
    holder_pid = (await holder.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    async with engine.connect() as probe:
        for _ in range(600):
            blocked = (
                await probe.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE :pid = ANY(pg_blocking_pids(pid))"
                    ),
                    {"pid": holder_pid},
                )
            ).scalar_one()
            if blocked:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the request never waited on the rival transaction")
