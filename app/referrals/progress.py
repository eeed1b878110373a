"""Progress readings: ten areas scored 1–10, owned by the leaver.

Recording a reading also writes it into the profile document as ``progress.latest``, the
consentable field, in the same transaction: one reading, shared like any other field,
replaces every organisation's own re-assessment. The profile's version moves on, so
partners listing by ``updated_since`` see the change.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.consent.cuts import refresh_cuts
from app.models.base import utcnow
from app.pagination import page_of
from app.referrals import repository
from app.referrals.repository import Record

# A reading as stored: id, readings, recorded_at.
Reading = Record


def reading_view(row: Reading) -> dict[str, Any]:
    return {"id": row.id, "readings": row.readings, "recorded_at": row.recorded_at}


async def record_progress(
    session: AsyncSession, profile_id: uuid.UUID, readings: dict[str, int]
) -> Reading:
    reading = await repository.insert_reading(
        session, profile_id=profile_id, readings=dict(readings), at=utcnow()
    )
    latest = {
        "id": str(reading.id),
        "readings": reading.readings,
        "recorded_at": reading.recorded_at.isoformat().replace("+00:00", "Z"),
    }
    await repository.set_latest_reading(
        session, profile_id=profile_id, latest=latest, at=reading.recorded_at
    )
    # Organisations given progress.latest see the new reading from the next read on.
    await refresh_cuts(session, profile_id)
    return reading


async def list_progress(
    session: AsyncSession, profile_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[Reading], str | None]:
    # An empty cursor is the first page here, not a 422.
    rows = await repository.page_of_readings(
        session, profile_id, limit=limit, cursor=cursor or None
    )
    return page_of(rows, limit, lambda r: (r.recorded_at, r.id))
