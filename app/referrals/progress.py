"""Progress readings: ten areas scored 1–10, owned by the leaver.

Recording a reading also writes it into the profile document as ``progress.latest``, the
consentable field, in the same transaction: one reading, shared like any other field,
replaces every organisation's own re-assessment. The profile's version moves on, so
partners listing by ``updated_since`` see the change.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.consent.cuts import refresh_cuts
from app.models import ProgressReading
from app.models.base import utcnow
from app.pagination import newest_first, page_of

_SET_LATEST = text(
    "UPDATE profiles SET data = jsonb_set(data, '{progress}', "
    "  jsonb_build_object('latest', CAST(:latest AS jsonb)), true), "
    "  version = version + 1, updated_at = :at "
    "WHERE id = :profile_id"
)


def reading_view(row: ProgressReading) -> dict[str, Any]:
    return {"id": row.id, "readings": row.readings, "recorded_at": row.recorded_at}


async def record_progress(
    session: AsyncSession, profile_id: uuid.UUID, readings: dict[str, int]
) -> ProgressReading:
    reading = ProgressReading(profile_id=profile_id, readings=dict(readings), recorded_at=utcnow())
    session.add(reading)
    await session.flush()
    latest = {
        "id": str(reading.id),
        "readings": reading.readings,
        "recorded_at": reading.recorded_at.isoformat().replace("+00:00", "Z"),
    }
    await session.execute(
        _SET_LATEST,
        {"latest": json.dumps(latest), "at": reading.recorded_at, "profile_id": profile_id},
    )
    # Organisations given progress.latest see the new reading from the next read on.
    await refresh_cuts(session, profile_id)
    return reading


async def list_progress(
    session: AsyncSession, profile_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[ProgressReading], str | None]:
    stmt = select(ProgressReading).where(ProgressReading.profile_id == profile_id)
    order = (ProgressReading.recorded_at, ProgressReading.id)
    # An empty cursor is the first page here, not a 422.
    stmt = newest_first(stmt, order, limit=limit, cursor=cursor or None)
    rows = list((await session.execute(stmt)).scalars())
    return page_of(rows, limit, lambda r: (r.recorded_at, r.id))
