"""Referrals and progress readings: plan and track (API.md §5)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api.deps import Leaver
from app.db import Session
from app.pagination import Cursor, Limit, Page
from app.referrals import progress
from app.referrals.schemas import ProgressCreate, ProgressReading

router = APIRouter(tags=["referrals"])

_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or invalid token"},
    403: {"description": "Missing scope"},
}


@router.post(
    "/v1/me/progress",
    status_code=201,
    response_model=ProgressReading,
    responses={**_AUTH, 422: {"description": "Unknown area or score outside 1–10"}},
)
async def record_progress(body: ProgressCreate, principal: Leaver, session: Session) -> object:
    """Record a progress reading: any of the ten areas, each scored 1–10.

    The newest reading becomes the profile field `progress.latest`, which the leaver can
    share through a consent grant like any other field, so no organisation has to assess
    them again.
    """
    reading = await progress.record_progress(
        session, principal.profile_id, {str(k): v for k, v in body.readings.items()}
    )
    return progress.reading_view(reading)


@router.get("/v1/me/progress", response_model=Page[ProgressReading], responses=_AUTH)
async def list_progress(
    principal: Leaver, session: Session, limit: Limit = 20, cursor: Cursor = None
) -> object:
    """The leaver's progress readings, newest first."""
    rows, next_cursor = await progress.list_progress(session, principal.profile_id, limit, cursor)
    return {"items": [progress.reading_view(r) for r in rows], "next_cursor": next_cursor}
