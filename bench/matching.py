"""Release-day matching at scale: ``GET /v1/me/offers``'s service call over 100,000 offers.

    .venv/bin/python -m bench.matching [--offers 100000] [--runs 300] [--reload]

Uses the benchmark database ``onward_bench`` (``bench.database``) and the same 100,000
synthetic offers as ``bench.catalogue`` (loaded once with COPY; ``--reload`` to start
again). Times exactly what the endpoint runs, ``offers.service.offers_for_leaver`` (the
eligibility, window and first ordering in SQL, the full rules of ``offers.matching`` over
the candidates, the page built), single client after a warm-up, for leavers of both
genders and several ages, released from different prisons to different areas on Friday
afternoons, Christmas Eve and around both clock changes, with and without known local
connections. Prints p50/p95/p99 and the ``EXPLAIN (ANALYZE, BUFFERS)`` of one candidate
query. The floor: p95 ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.clock import london_today
from app.migrate import upgrade
from app.models import Profile
from app.offers import matching, repository, service
from app.offers.places import ESTABLISHMENT_CODES, LOCAL_AUTHORITIES
from bench.catalogue import _percentile, database_url, explain_analyze, load, options, report

P95_FLOOR_MS = 50.0
RELEASES = [
    "2026-11-27T15:30:00Z",  # a Friday afternoon (GMT)
    "2026-12-24T15:30:00Z",  # Christmas Eve
    "2026-03-27T15:30:00Z",  # the Friday before the clocks go forward
    "2026-10-23T14:30:00Z",  # the Friday before they go back (15:30 BST)
    "2026-06-05T14:30:00Z",  # a summer Friday
]
LEVELS = ["none", "low", "medium", "high"]
PATHWAYS = list(matching.PATHWAY_LABELS)


def _profiles(n: int, seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    areas = list(LOCAL_AUTHORITIES)
    out = []
    for _ in range(n):
        release: dict[str, Any] = {
            "expected_at": rng.choice(RELEASES),
            "establishment_code": rng.choice(ESTABLISHMENT_CODES),
            "area": rng.choice(areas),
            "sentence_months": rng.choice([6, 18, 48]),
        }
        if rng.random() < 0.6:
            release["local_connections"] = rng.sample(areas, k=rng.choice((0, 1, 2)))
        out.append(
            {
                "identity": {
                    "gender": rng.choice(["woman", "man"]),
                    "date_of_birth": rng.choice(["2003-04-12", "1988-09-30", "1965-01-20"]),
                },
                "release": release,
                "needs": {p: {"level": rng.choice(LEVELS)} for p in rng.sample(PATHWAYS, k=3)},
                "preferences": {"worker_gender": rng.choice(["any", "woman", "man"])},
            }
        )
    return out


async def _make_profiles(session: AsyncSession, documents: list[dict[str, Any]]) -> list[uuid.UUID]:
    await session.execute(delete(Profile).where(Profile.reference.like("BENCH-%")))
    ids = []
    for i, data in enumerate(documents):
        profile_id = uuid.uuid4()
        session.add(Profile(id=profile_id, reference=f"BENCH-{i:04d}", pin_hash="x", data=data))
        ids.append(profile_id)
    await session.commit()
    return ids


async def measure(url: str, runs: int) -> dict[str, float]:
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    rng = random.Random(42)
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    timings: list[float] = []
    async with maker() as session:
        ids = await _make_profiles(session, _profiles(40))
        for profile_id in ids[:20]:  # warm-up: caches, prepared statements
            await service.offers_for_leaver(
                session, profile_id, within_hours=72, limit=20, cursor=None, now=now
            )
        for _ in range(runs):
            profile_id = rng.choice(ids)
            hours = rng.choice((24, 72, 72, 168))
            started = time.perf_counter()
            items, _ = await service.offers_for_leaver(
                session, profile_id, within_hours=hours, limit=20, cursor=None, now=now
            )
            timings.append((time.perf_counter() - started) * 1000)
            assert items, "every bench leaver has eligible offers"
        await explain(session, ids[0], now)
        await session.execute(delete(Profile).where(Profile.reference.like("BENCH-%")))
        await session.commit()
    await engine.dispose()
    return {
        "runs": float(runs),
        "p50_ms": statistics.median(timings),
        "p95_ms": _percentile(timings, 95),
        "p99_ms": _percentile(timings, 99),
        "max_ms": max(timings),
    }


async def explain(session: AsyncSession, profile_id: uuid.UUID, now: datetime) -> None:
    """The plan of the first need tier's candidate walk (as ``match_candidates`` runs it)."""
    data = await repository.profile_data(session, profile_id)
    assert data is not None
    leaver = matching.leaver_from_profile(data, now)
    order = service.first_ordering(leaver, 72)
    statement = repository.first_tier_walk(
        leaver, order, service.MATCH_CANDIDATES + 20, london_today(now)
    )
    print(f"\nfirst need tier {order.tiers[0]}:")
    for line in await explain_analyze(session, statement):
        print(line)


async def main_async(args: argparse.Namespace) -> int:
    url = await database_url()
    await upgrade(url)
    await load(url, args.offers, args.reload)
    result = await measure(url, args.runs)
    title = f"GET /v1/me/offers (offers_for_leaver), {args.offers} offers"
    return report(title, result, P95_FLOOR_MS)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(options(__doc__, argv)))


if __name__ == "__main__":
    sys.exit(main())
