"""Catalogue search at scale: load N synthetic offers, time the combined query, show its plan.

    /work/main/.venv/bin/python -m bench.catalogue [--offers 100000] [--runs 300] [--reload]

Uses the database ``onward_bench`` (``bench.database``): on ``DATABASE_URL``'s server when
set, never the database it names, else on an embedded PostgreSQL under ``.onward-bench``.
The offers are loaded once with COPY (``--reload`` to start again) and the query timed is
exactly the service's (``repository.catalogue_statement``): category + area + open_at + q,
single client, after a warm-up. Prints p50/p95/p99 and the ``EXPLAIN (ANALYZE, BUFFERS)``
of one run. The floor: p95 ≤ 30 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asyncpg import Range
from sqlalchemy import ClauseElement, Executable
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from app.clock import london_today
from app.migrate import upgrade
from app.offers import repository
from app.offers.schedule import DAYS
from app.offers.schemas import CATEGORIES
from app.offers.service import CatalogueQuery, catalogue_filter, search_offers
from bench.database import bench_database_url

P95_FLOOR_MS = 30.0
# The 13 Thames Valley local authorities (ONS code, town latitude, longitude).
AREAS = [
    ("E06000036", 51.4160, -0.7540),
    ("E06000037", 51.4014, -1.3231),
    ("E06000038", 51.4543, -0.9781),
    ("E06000039", 51.5105, -0.5950),
    ("E06000040", 51.5218, -0.7177),
    ("E06000041", 51.4112, -0.8339),
    ("E06000042", 52.0406, -0.7594),
    ("E06000060", 51.8156, -0.8084),
    ("E07000177", 52.0629, -1.3398),
    ("E07000178", 51.7520, -1.2577),
    ("E07000179", 51.6080, -1.2410),
    ("E07000180", 51.6708, -1.2830),
    ("E07000181", 51.7840, -1.4850),
]
WORDS = (
    "housing shelter hostel tenancy rent deposit benefits universal credit bank account "
    "identity passport birth certificate job training cv interview construction catering "
    "forklift cscs card literacy numeracy college mentoring peer support recovery detox "
    "alcohol drugs naloxone counselling anxiety depression gp dentist registration family "
    "children contact visits parenting debt advice budgeting food bank clothing phone "
    "transport travel warrant gate pickup accompaniment advocacy probation women veterans "
    "young adults music sport volunteering faith community kitchen laundry showers"
).split()
FILLER = [
    "".join(random.Random(i).choices("bcdfghklmnprstvw", k=3)) + "ane" + str(i % 7)
    for i in range(2000)
]
TITLES = [
    "Drop-in advice",
    "Housing support",
    "Recovery group",
    "Employment coaching",
    "Money and ID clinic",
    "Family contact support",
    "Wellbeing cafe",
    "Practical help desk",
    "Mentoring service",
    "Night shelter",
]


def _offer_rows(
    n: int, org_id: uuid.UUID, seed: int = 7
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    rng = random.Random(seed)
    offers: list[tuple[Any, ...]] = []
    locations: list[tuple[Any, ...]] = []
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(n):
        offer_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        category = rng.choice(CATEGORIES)
        served = rng.sample(AREAS, k=rng.choice((0, 1, 1, 1, 2, 3)))
        areas = [a[0] for a in served]
        # Each offer names a few topics (each topic word ends up in ~5% of offers) in prose
        # drawn from a wider vocabulary, as real descriptions do.
        words = rng.sample(WORDS, k=5)
        prose = rng.choices(FILLER, k=60)
        title = f"{rng.choice(TITLES)} {words[0]}"
        always_open = rng.random() < 0.05
        weekly = []
        spans: list[Range] = [Range(0, 7 * 1440)] if always_open else []
        if not always_open:
            for day in rng.sample(DAYS, k=rng.randint(1, 6)):
                opens = rng.choice((8, 9, 10, 13, 17, 18)) * 60
                closes = min(opens + rng.choice((2, 3, 4, 8)) * 60, 1440)
                weekly.append({"day": day, "opens": _hhmm(opens), "closes": _hhmm(closes)})
                base = DAYS.index(day) * 1440
                spans.append(Range(base + opens, base + closes))
        places = served or [rng.choice(AREAS)]
        locs = []
        for pos, (_, lat, lon) in enumerate(places):
            lat += rng.uniform(-0.05, 0.05)
            lon += rng.uniform(-0.05, 0.05)
            locs.append({"name": f"Site {pos + 1}", "latitude": lat, "longitude": lon})
            locations.append((offer_id, pos, lat, lon))
        cohorts = rng.sample(["women", "young_adult", "short_sentence"], k=rng.choice((0, 0, 1)))
        genders = ["woman"] if "women" in cohorts else []
        body: dict[str, Any] = {
            "title": title,
            "summary": " ".join(words[1:3] + prose[:12]),
            "description": " ".join(words[3:] + prose[12:]),
            "category": category,
            "tags": words[:3],
            "eligibility": {
                "genders": genders,
                "min_age": 18,
                "max_age": None,
                "cohorts": cohorts,
                "areas": areas,
                "requires_local_connection": bool(areas) and rng.random() < 0.2,
            },
            "delivery": {"modes": ["in_person"], "meet_at_gate": rng.random() < 0.03},
            "locations": locs,
            "schedule": {"always_open": always_open, "weekly": weekly},
            "contact": {"phone": None, "email": None, "url": None},
            "required_fields": [],
            "capacity": None,
            "valid_from": None,
            "valid_until": None,
        }
        status = "published" if rng.random() < 0.9 else rng.choice(("draft", "paused", "withdrawn"))
        created = start + timedelta(seconds=i * 97 + rng.randint(0, 60))
        offers.append(
            (
                offer_id,
                org_id,
                status,
                category,
                json.dumps(body),
                areas or ["*"],
                [f"{category}|{a}" for a in areas or ["*"]],
                cohorts or ["*"],
                genders or ["*"],
                18,
                None,
                body["eligibility"]["requires_local_connection"],
                body["delivery"]["meet_at_gate"],
                always_open,
                _merge(spans),
                None,
                None,
                None,
                1,
                created,
                created,
            )
        )
    return offers, locations


def _merge(spans: list[Range]) -> list[Range]:
    merged: list[list[int]] = []
    for span in sorted(spans, key=lambda r: r.lower):
        if merged and span.lower <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], span.upper)
        else:
            merged.append([span.lower, span.upper])
    return [Range(lo, hi) for lo, hi in merged]


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


OFFER_COLUMNS = [
    "id",
    "organisation_id",
    "status",
    "category",
    "body",
    "area_keys",
    "category_area_keys",
    "cohort_keys",
    "gender_keys",
    "min_age",
    "max_age",
    "requires_local_connection",
    "meet_at_gate",
    "always_open",
    "week_hours",
    "valid_from",
    "valid_until",
    "capacity",
    "version",
    "created_at",
    "updated_at",
]


async def load(url: str, n: int, reload: bool) -> None:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    if "?host=" in dsn:  # asyncpg wants the socket directory as a keyword
        dsn, _, host = dsn.partition("?host=")
        from urllib.parse import unquote

        conn = await asyncpg.connect(dsn, host=unquote(host))
    else:
        conn = await asyncpg.connect(dsn)
    try:
        existing = await conn.fetchval("SELECT count(*) FROM offers")
        if existing >= n and not reload:
            print(f"{existing} offers already loaded (use --reload to start again)")
            return
        started = time.perf_counter()
        # CASCADE: referrals (and their events) point at offers; a bench database has none
        # worth keeping.
        await conn.execute("TRUNCATE offer_locations, offers CASCADE")
        org_id = await conn.fetchval(
            "INSERT INTO organisations (id, name, kind) VALUES ($1, 'Bench provider', 'provider') "
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name RETURNING id",
            uuid.UUID(int=1),
        )
        offers, locations = _offer_rows(n, org_id)
        await conn.execute("SET jit = off")
        await conn.copy_records_to_table("offers", records=offers, columns=OFFER_COLUMNS)
        await conn.copy_records_to_table(
            "offer_locations",
            records=locations,
            columns=["offer_id", "position", "latitude", "longitude"],
        )
        await conn.execute("VACUUM ANALYZE offers")
        await conn.execute("VACUUM ANALYZE offer_locations")
        print(
            f"loaded {len(offers)} offers and {len(locations)} locations "
            f"in {time.perf_counter() - started:.1f}s"
        )
    finally:
        await conn.close()


def _queries(rng: random.Random, runs: int) -> list[CatalogueQuery]:
    terms = ["housing", "recovery group", "job training", "debt advice", "family", "passport"]
    out = []
    base = datetime(2026, 11, 23, tzinfo=UTC)
    for _ in range(runs):
        instant = base + timedelta(minutes=rng.randint(0, 7 * 24 * 60))
        out.append(
            CatalogueQuery(
                category=rng.choice(CATEGORIES),
                area=rng.choice(AREAS)[0],
                open_at=instant,
                q=rng.choice(terms),
                limit=20,
            )
        )
    return out


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def measure(url: str, runs: int) -> dict[str, float]:
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    rng = random.Random(42)
    queries = _queries(rng, runs)
    timings: list[float] = []
    async with maker() as session:
        for query in queries[:20]:  # warm-up: caches, prepared statements
            await search_offers(session, query)
        for query in queries:
            started = time.perf_counter()
            _items, _ = await search_offers(session, query)
            timings.append((time.perf_counter() - started) * 1000)
        sample = CatalogueQuery(
            category="accommodation",
            area="E06000038",
            open_at=datetime(2026, 11, 27, 15, 30, tzinfo=UTC),
            q="housing",
            limit=20,
        )
        await explain(session, sample)
    await engine.dispose()
    result = {
        "runs": float(runs),
        "p50_ms": statistics.median(timings),
        "p95_ms": _percentile(timings, 95),
        "p99_ms": _percentile(timings, 99),
        "max_ms": max(timings),
    }
    return result


class ExplainAnalyze(Executable, ClauseElement):
    """``EXPLAIN (ANALYZE, BUFFERS)`` of a Core statement, its parameters bound as usual."""

    inherit_cache = False

    def __init__(self, statement: Any) -> None:
        self.statement = statement


@compiles(ExplainAnalyze, "postgresql")
def _explain_analyze(element: ExplainAnalyze, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (ANALYZE, BUFFERS) " + compiler.process(element.statement, **kw)


async def explain_analyze(session: AsyncSession, statement: Any) -> list[str]:
    return [row[0] for row in await session.execute(ExplainAnalyze(statement))]


async def explain(session: AsyncSession, query: CatalogueQuery) -> None:
    f = catalogue_filter(query, london_today())
    print("\nquery:", json.dumps({k: str(v) for k, v in vars(f).items() if v is not None}))
    print("\n".join(await explain_analyze(session, repository.catalogue_statement(f))))


async def database_url() -> str:
    return await bench_database_url(Path(".onward-bench"), fresh=False)


async def main_async(args: argparse.Namespace) -> int:
    url = await database_url()
    await upgrade(url)
    await load(url, args.offers, args.reload)
    result = await measure(url, args.runs)
    return report("combined query (category + area + open_at + q)", result, P95_FLOOR_MS)


def report(title: str, result: dict[str, float], p95_floor_ms: float) -> int:
    """Print a single-client run's percentiles against its p95 floor; the exit code."""
    print(
        f"\n{title}, {int(result['runs'])} runs, "
        f"single client: p50 {result['p50_ms']:.2f} ms, p95 {result['p95_ms']:.2f} ms, "
        f"p99 {result['p99_ms']:.2f} ms, max {result['max_ms']:.2f} ms"
    )
    ok = result["p95_ms"] <= p95_floor_ms
    print(f"floor p95 <= {p95_floor_ms:.0f} ms: {'met' if ok else 'NOT MET'}")
    return 0 if ok else 1


def options(doc: str | None, argv: list[str] | None) -> argparse.Namespace:
    """The 100,000-offer benchmarks' command line."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--offers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--reload", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(options(__doc__, argv)))


if __name__ == "__main__":
    sys.exit(main())
