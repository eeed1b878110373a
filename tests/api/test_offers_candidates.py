"""Release-day candidates: the index walks of ``repository.match_candidates`` choose exactly
the first ``cap`` eligible offers of the first ordering (``repository.FirstOrdering``).

The oracle here is the first ordering written out in Python over every published eligible
offer: (1) the weekly hours meet the window, (2) not full, (3) need level, (4) the first
bucket the hours meet, then newest. The walks stop early and read a tier a bucket at a
time; whatever the catalogue, caps, windows and release instants (a Friday, Christmas Eve,
both clock changes, a night release), they must answer the same list in the same order.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.clock import london_today
from app.db import Database
from app.models import Offer as OfferRow
from app.models import Organisation
from app.offers import matching, repository, service
from app.offers.schedule import DAYS
from app.offers.schemas import CATEGORIES, OfferCreate
from tests.api.offers_helpers import offer_body

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
RELEASES = [
    "2026-11-27T15:30:00Z",  # Friday afternoon
    "2026-12-24T15:30:00Z",  # Christmas Eve
    "2026-03-28T23:30:00Z",  # the night the clocks go forward
    "2026-10-24T23:30:00Z",  # the night they go back
    "2026-11-29T02:00:00Z",  # Sunday, 2 a.m.: few offers open soon
]
LEVELS = ["none", "low", "medium", "high"]


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _random_offer(rng: random.Random) -> dict[str, Any]:
    always_open = rng.random() < 0.08
    weekly = []
    if not always_open:
        for day in rng.sample(DAYS, k=rng.randint(0, 4)):
            opens = rng.choice((0, 8, 9, 10, 13, 17, 20)) * 60 + rng.choice((0, 30))
            closes = min(opens + rng.choice((1, 2, 4, 8)) * 60, 1440)
            weekly.append({"day": day, "opens": _hhmm(opens), "closes": _hhmm(closes)})
    return offer_body(
        category=rng.choice(CATEGORIES),
        capacity=rng.choice((None, None, None, 0)),  # 0: full with no referrals
        eligibility__genders=rng.choice(([], [], ["woman"])),
        eligibility__min_age=None,
        schedule={"always_open": always_open, "weekly": weekly},
    )


def _profile(rng: random.Random) -> dict[str, Any]:
    pathways = list(matching.PATHWAY_LABELS)
    return {
        "identity": {"gender": rng.choice(["woman", "man"]), "date_of_birth": "1988-09-30"},
        "release": {"expected_at": rng.choice(RELEASES)},
        "needs": {p: {"level": rng.choice(LEVELS)} for p in rng.sample(pathways, k=3)},
    }


def _overlaps(ranges: Any, spans: list[tuple[int, int]]) -> bool:
    return any(r.lower < hi and lo < r.upper for r in ranges for lo, hi in spans)


def _oracle(
    rows: Sequence[Any], full: set[uuid.UUID], order: repository.FirstOrdering, cap: int
) -> list[uuid.UUID]:
    def bucket(r: Any) -> int:
        for i, spans in enumerate(order.buckets):
            if _overlaps(r.week_hours, spans):
                return i
        return len(order.buckets)

    newest = sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)
    ranked = sorted(
        newest,
        key=lambda r: (
            not _overlaps(r.week_hours, order.window),
            r.id in full,
            -order.need.get(r.category, 0),
            bucket(r),
        ),
    )
    return [r.id for r in ranked[:cap]]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_walks_choose_the_first_ordering_exactly(db: Database, seed: int) -> None:
    rng = random.Random(seed)
    async with db.sessionmaker() as session:
        org_id = uuid.uuid4()
        session.add(Organisation(id=org_id, name=f"Candidates {seed}", kind="provider"))
        await session.flush()
        start = NOW - timedelta(days=30)
        for i in range(60):
            offer = await service.create_offer(
                session, org_id, OfferCreate.model_validate(_random_offer(rng))
            )
            # Distinct, known creation times (one transaction would give them all one now()).
            await repository.update_offer(
                session, offer.id, {"created_at": start + timedelta(minutes=i)}
            )
        today = london_today(NOW)
        checked = 0
        for _ in range(12):
            leaver = matching.leaver_from_profile(_profile(rng), NOW)
            eligible = (
                await session.execute(
                    select(
                        OfferRow.id,
                        OfferRow.category,
                        OfferRow.week_hours,
                        OfferRow.capacity,
                        OfferRow.created_at,
                    ).where(repository.published_on(today), repository.eligible_to(leaver))
                )
            ).all()
            counts = await repository.active_referral_counts(session, [r.id for r in eligible])
            full = {r.id for r in eligible if service.is_full(r.capacity, counts.get(r.id, 0))}
            for within_hours in (1, 24, 72, 168):
                order = service.first_ordering(leaver, within_hours)
                for cap in (1, 7, 20, 45, len(eligible) + 5):
                    chosen = await repository.match_candidates(session, leaver, order, cap, today)
                    assert chosen == _oracle(eligible, full, order, cap), (
                        leaver,
                        within_hours,
                        cap,
                    )
                    checked += 1
        await session.rollback()
    assert checked == 12 * 4 * 5
