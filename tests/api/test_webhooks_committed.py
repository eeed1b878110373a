"""The outbox under real commits: written with the change or not at all, and delivered
once by replicas claiming at the same time (FOR UPDATE SKIP LOCKED and the lease)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks.webhooks import Webhook

from app.consent.cuts import refresh_cuts
from tests.api.consent_helpers import grant, make_leaver
from tests.api.webhook_helpers import Receiver, deliver, register, start_receiver
from tests.support import Actors

pytestmark = pytest.mark.committed


@pytest.fixture
async def receiver(engine: AsyncEngine) -> AsyncIterator[Receiver]:
    running = start_receiver()
    yield running
    running.server.shutdown()
    running.server.server_close()
    # Committed rows of this test's webhooks must not reach another test's worker round.
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM webhooks WHERE url = :url"), {"url": running.url})


async def _count(engine: AsyncEngine, webhook_id: str) -> int:
    async with engine.connect() as conn:
        count: int = (
            await conn.execute(
                text("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = :id"),
                {"id": webhook_id},
            )
        ).scalar_one()
    return count


async def test_a_rolled_back_change_leaves_no_outbox_row(
    committed_client: httpx.AsyncClient,
    committed_actors: Actors,
    committed_app: FastAPI,
    engine: AsyncEngine,
    receiver: Receiver,
) -> None:
    client, actors = committed_client, committed_actors
    partner = await actors.client("profiles:read", "webhooks:manage")
    made = await register(client, partner, receiver.url, ["profile.shared"])
    leaver = await make_leaver(client, actors)

    # A grant written and its cut refreshed, then the transaction rolled back.
    async with committed_app.state.db.sessionmaker() as session:
        await session.execute(
            text(
                "INSERT INTO consent_grants (id, profile_id, organisation_id, fields, purpose, "
                "expires_at, receipt) VALUES (:id, :pid, :org, ARRAY['contact.phone'], "
                "'support_delivery', now() + interval '1 day', 'x')"
            ),
            {"id": uuid.uuid4(), "pid": leaver.id, "org": partner.organisation_id},
        )
        await refresh_cuts(session, uuid.UUID(leaver.id), [partner.organisation_id])
        inside = (
            await session.execute(
                text("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = :id"),
                {"id": made["id"]},
            )
        ).scalar_one()
        assert inside == 1  # written in the change's own transaction...
        await session.rollback()
    assert await _count(engine, made["id"]) == 0  # ...and gone with it
    await deliver(committed_app)
    assert receiver.received == []

    # The same change committed: its message is there, and is delivered.
    await grant(client, leaver, partner.organisation_id, ["contact.phone"])
    assert await _count(engine, made["id"]) == 1
    await deliver(committed_app)
    [received] = receiver.received
    assert (
        Webhook(made["secret"]).verify(received.body, received.headers)["data"]["profile_id"]
        == leaver.id
    )


async def test_two_workers_at_once_never_deliver_a_message_twice(
    committed_client: httpx.AsyncClient,
    committed_actors: Actors,
    committed_app: FastAPI,
    receiver: Receiver,
) -> None:
    client, actors = committed_client, committed_actors
    partner = await actors.client("profiles:read", "webhooks:manage")
    made = await register(client, partner, receiver.url, ["profile.shared"])
    leavers = [await make_leaver(client, actors) for _ in range(8)]
    for leaver in leavers:
        await grant(client, leaver, partner.organisation_id, ["contact.phone"])
    receiver.delay = 0.2  # slow answers: the two workers' rounds overlap

    async def replica() -> int:
        total = 0
        for _ in range(4):
            total += await deliver(committed_app, limit=3)
        return total

    attempted: Any = await asyncio.gather(replica(), replica())
    ids = Counter(r.headers["webhook-id"] for r in receiver.received)
    assert len(ids) == 8
    assert set(ids.values()) == {1}, "a message was delivered twice"
    assert all(n > 0 for n in attempted), "both workers took part"
    profiles = {
        Webhook(made["secret"]).verify(r.body, r.headers)["data"]["profile_id"]
        for r in receiver.received
    }
    assert profiles == {leaver.id for leaver in leavers}
