"""Seed the benchmark database: N profiles each with a grant to one partner, one client
per role, and optionally a large access log."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from app.auth.reference import new_reference
from app.auth.secrets import hash_secret
from app.consent.cuts import refresh_stale_for_organisation

AREAS = ["E06000038", "E07000178", "E06000039", "E06000060", "E06000042"]
GRANTED = ["identity", "contact", "release", "needs.accommodation", "needs.education_work"]


def document(i: int) -> dict[str, object]:
    rnd = random.Random(i)
    return {
        "identity": {
            "given_name": f"Alex{i}",
            "family_name": "Example",
            "date_of_birth": f"19{rnd.randint(60, 99)}-0{rnd.randint(1, 9)}-1{rnd.randint(0, 9)}",
            "gender": rnd.choice(["man", "woman", "non_binary"]),
        },
        "contact": {"phone": f"07700 9{i % 100000:05d}", "preferred_method": "phone"},
        "release": {
            "establishment": "HMP Bullingdon",
            "area": rnd.choice(AREAS),
            "expected_at": "2026-11-27T15:30:00Z",
            "on_licence": True,
            "sentence_months": rnd.randint(2, 48),
        },
        "needs": {
            "accommodation": {"level": "high", "notes": "No fixed abode on release."},
            "education_work": {"level": "medium"},
            "health": {"level": "medium", "notes": "SECRET-HEALTH-NOTE"},
        },
        "story": {"summary": "SECRET-STORY " + "x" * 400},
    }


@dataclass
class Seeded:
    partner_org: uuid.UUID
    partner_client_id: str
    partner_client_secret: str
    profile_ids: list[uuid.UUID]


async def seed(dsn: str, profiles: int, events: int) -> Seeded:
    conn = await asyncpg.connect(dsn)
    try:
        org = uuid.uuid4()
        await conn.execute(
            "INSERT INTO organisations (id, name, kind) VALUES ($1, $2, 'partner')",
            org,
            "Bench Probation",
        )
        client_id, secret = "bench-partner", "bench-secret-" + uuid.uuid4().hex
        await conn.execute(
            "INSERT INTO clients (client_id, organisation_id, name, scopes, secret_hash) "
            "VALUES ($1, $2, 'bench', $3, $4)",
            client_id,
            org,
            ["profiles:read"],
            hash_secret(secret),
        )
        ids = [uuid.uuid4() for _ in range(profiles)]
        now = datetime.now(UTC)
        await conn.copy_records_to_table(
            "profiles",
            columns=[
                "id",
                "reference",
                "pin_hash",
                "data",
                "version",
                "updated_at",
                "created_at",
            ],
            records=[
                (pid, new_reference(), "x", json.dumps(document(i)), 1, now, now)
                for i, pid in enumerate(ids)
            ],
        )
        await conn.copy_records_to_table(
            "consent_grants",
            columns=[
                "id",
                "profile_id",
                "organisation_id",
                "fields",
                "purpose",
                "explicit",
                "granted_at",
                "expires_at",
                "receipt",
            ],
            records=[
                (
                    uuid.uuid4(),
                    pid,
                    org,
                    GRANTED,
                    "case_coordination",
                    False,
                    now,
                    now + timedelta(days=365),
                    "bench",
                )
                for pid in ids
            ],
        )
        if events:
            # Spread the log over every profile, as a year of partner reads would.
            await conn.execute(
                """
                INSERT INTO access_events (id, profile_id, organisation_id, client_id, action,
                                           fields, grant_ids, at)
                SELECT gen_random_uuid(), p.ids[1 + (g % array_length(p.ids, 1))], $1, $2,
                       'profile.read', $3, '{}', now() - (g || ' seconds')::interval
                FROM generate_series(1, $4) AS g,
                     (SELECT array_agg(id) AS ids FROM profiles) AS p
                """,
                org,
                client_id,
                GRANTED,
                events,
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    await _decide_cuts(dsn, org)
    return Seeded(org, client_id, secret, ids)


async def _decide_cuts(dsn: str, org: uuid.UUID) -> None:
    """Decide every seeded profile's cut for the partner up front, with the app's own code
    (``consent.cuts``), as the grant endpoint does when consent is given: the benchmark
    then measures reads, not the first read's recomputation."""
    engine = create_async_engine(dsn.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with AsyncSession(engine) as session:
            await refresh_stale_for_organisation(session, org, datetime.now(UTC))
            await session.commit()
        async with engine.connect() as conn:
            await conn.execute(text("ANALYZE disclosure_cuts"))
            await conn.commit()
    finally:
        await engine.dispose()
