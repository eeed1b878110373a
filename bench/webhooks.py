"""Webhooks at work: the outbox's cost on ``PATCH /v1/me`` and deliveries per second.

    .venv/bin/python -m bench.webhooks [--patches 300] [--events 1000]

Uses the benchmark database ``onward_bench`` (``bench.database``), at the service level
(the same functions the routes call, each in its own committed transaction):

* **outbox cost** (issue 17: under 10 %): two leavers each share ``contact.phone`` with one
  partner; one partner has a webhook subscribed to ``profile.updated``, the other none.
  Edits of the shared phone number alternate between the two leavers, so both pay the cut
  refresh and the change-feed row, and only one also writes the outbox row. The ratio of
  the medians is the outbox's cost.
* **deliveries per second**: ``--events`` outbox rows for a local receiver (uvicorn on
  127.0.0.1, answering 204), delivered by two workers running ``deliver_due`` at once, as
  two replicas would.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.consent.receipts import ReceiptIssuer
from app.consent.service import grant_consent
from app.etags import IfMatch
from app.main import build_token_service
from app.migrate import upgrade
from app.models import Organisation, Webhook, WebhookDelivery
from app.models.base import utcnow
from app.profiles.service import create_profile, patch_own_profile
from app.settings import Settings
from app.webhooks.delivery import deliver_due
from app.webhooks.outbox import enqueue
from app.webhooks.service import create_webhook
from bench.database import bench_database_url

OUTBOX_COST_TARGET = 0.10


async def _receiver_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _start_receiver() -> tuple[uvicorn.Server, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = uvicorn.Config(_receiver_app, host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, port


async def _setup(
    sessionmaker: async_sessionmaker[AsyncSession], receipts: ReceiptIssuer, url: str
) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """Two leavers sharing with two partners; only the second partner has a webhook."""
    async with sessionmaker() as session:
        tag = uuid.uuid4().hex[:6]
        quiet = Organisation(name=f"bench quiet partner {tag}", kind="partner")
        hooked = Organisation(name=f"bench hooked partner {tag}", kind="partner")
        session.add_all([quiet, hooked])
        await session.flush()
        leavers = []
        for partner in (quiet, hooked):
            made = await create_profile(
                session,
                pin="246810",
                data=None,
                client_id="bench",
            )
            await grant_consent(
                session,
                receipts,
                profile_id=made["id"],
                organisation_id=partner.id,
                fields=["contact.phone"],
                purpose="support_delivery",
            )
            leavers.append(made["id"])
        hook = await create_webhook(
            session,
            hooked.id,
            url=url,
            events=["profile.updated"],
            description="bench",
            allow_private=True,
        )
        await session.commit()
    return leavers[0], leavers[1], hook["id"]


async def _patch(sessionmaker: async_sessionmaker[AsyncSession], pid: uuid.UUID, i: int) -> float:
    started = time.perf_counter()
    async with sessionmaker() as session:
        await patch_own_profile(
            session, pid, {"contact": {"phone": f"07700 9{i:05d}"}}, if_match=IfMatch(None)
        )
        await session.commit()
    return time.perf_counter() - started


async def outbox_cost(
    sessionmaker: async_sessionmaker[AsyncSession], quiet: uuid.UUID, hooked: uuid.UUID, n: int
) -> dict[str, float]:
    plain: list[float] = []
    with_outbox: list[float] = []
    for i in range(n):  # interleaved: both see the same machine moments
        plain.append(await _patch(sessionmaker, quiet, i))
        with_outbox.append(await _patch(sessionmaker, hooked, i))
    p, w = statistics.median(plain[10:]), statistics.median(with_outbox[10:])
    return {"plain_ms": p * 1000, "with_outbox_ms": w * 1000, "cost": w / p - 1}


async def deliveries_per_second(
    sessionmaker: async_sessionmaker[AsyncSession],
    organisation_id: uuid.UUID,
    hook_id: uuid.UUID,
    n: int,
) -> float:
    async with sessionmaker() as session:
        for _ in range(n):
            await enqueue(
                session,
                organisation_id,
                "profile.updated",
                {"profile_id": uuid.uuid4()},
                at=utcnow(),
            )
        await session.commit()

    async def pending() -> int:
        async with sessionmaker() as session:
            return int(
                (
                    await session.execute(
                        select(func.count()).where(
                            WebhookDelivery.webhook_id == hook_id,
                            WebhookDelivery.delivered_at.is_(None),
                        )
                    )
                ).scalar_one()
            )

    started = time.perf_counter()

    async def worker() -> None:
        while await deliver_due(sessionmaker, allow_private=True):
            pass

    await asyncio.gather(worker(), worker())
    elapsed = time.perf_counter() - started
    if await pending():
        print("warning: some deliveries are still pending", file=sys.stderr)
    return n / elapsed


async def main_async(args: argparse.Namespace) -> int:
    url = await bench_database_url(Path(".onward-bench"), fresh=False)
    await upgrade(url)
    engine = create_async_engine(url, pool_size=10)
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    settings = Settings(data_dir=Path(".onward-bench"), issuer="http://127.0.0.1:8000")
    receipts = ReceiptIssuer(
        build_token_service(settings),
        controller={"name": "bench", "contact": "bench@example.org"},
        policy_url="https://example.org/privacy",
    )
    server, port = _start_receiver()
    try:
        quiet, hooked, hook_id = await _setup(
            sessionmaker, receipts, f"http://127.0.0.1:{port}/hook"
        )
        cost = await outbox_cost(sessionmaker, quiet, hooked, args.patches)
        # Let the patches' own deliveries go first, then measure a clean backlog.
        while await deliver_due(sessionmaker, allow_private=True):
            pass
        async with sessionmaker() as session:
            organisation_id = (
                await session.execute(select(Webhook.organisation_id).where(Webhook.id == hook_id))
            ).scalar_one()
        rate = await deliveries_per_second(sessionmaker, organisation_id, hook_id, args.events)
    finally:
        server.should_exit = True
        await engine.dispose()
    print(
        f"PATCH /v1/me service call, {args.patches} each, median: without a webhook "
        f"{cost['plain_ms']:.2f} ms, with a subscribed webhook {cost['with_outbox_ms']:.2f} ms: "
        f"outbox cost {cost['cost'] * 100:+.1f} % (target < {OUTBOX_COST_TARGET * 100:.0f} %)"
    )
    print(f"deliveries to a local receiver, 2 workers: {rate:.0f} events/s ({args.events} events)")
    return 0 if cost["cost"] < OUTBOX_COST_TARGET else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patches", type=int, default=300)
    parser.add_argument("--events", type=int, default=1000)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
