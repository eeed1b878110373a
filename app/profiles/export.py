"""The leaver's copy of their record (API.md §10 "Export"): one JSON document with the
profile, every grant with its receipts, the access log, referrals and progress readings.

The same function answers ``GET /v1/me/export`` and the download page; each export is
itself recorded in the access log (action ``profile.exported``), so the leaver sees when a
copy was taken.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.log import access_log
from app.audit.repository import insert_leaver_event
from app.auth import scopes as S
from app.auth.principal import LEAVER_CLIENT_ID, Principal
from app.consent.service import list_grants
from app.models.base import utcnow
from app.profiles.service import get_own_profile
from app.referrals.progress import list_progress, reading_view
from app.referrals.service import list_referrals

PROFILE_EXPORTED = "profile.exported"
EXPORT_FORMAT = "onward-export/1"
_PAGE = 100


def leaver_principal(profile_id: uuid.UUID) -> Principal:
    """The leaver as a principal, for services that scope by one (their own referrals)."""
    return Principal(
        subject=str(profile_id),
        client_id=LEAVER_CLIENT_ID,
        scopes=frozenset({S.SELF}),
        jti="",
        expires_at=0,
    )


async def _every(
    fetch: Callable[[str | None], Awaitable[tuple[list[Any], str | None]]],
) -> list[Any]:
    items: list[Any] = []
    cursor: str | None = None
    while True:
        page, cursor = await fetch(cursor)
        items.extend(page)
        if cursor is None:
            return items


async def export_record(session: AsyncSession, profile_id: uuid.UUID) -> dict[str, Any]:
    """The whole record (NotFound when the profile is gone), and its ``profile.exported``
    event appended in the same transaction."""
    profile = await get_own_profile(session, profile_id)
    grants = await _every(
        lambda c: list_grants(session, profile_id=profile_id, status=None, limit=_PAGE, cursor=c)
    )
    log = await _every(lambda c: access_log(session, profile_id=profile_id, limit=_PAGE, cursor=c))
    principal = leaver_principal(profile_id)
    referrals = await _every(
        lambda c: list_referrals(session, principal, status=None, limit=_PAGE, cursor=c)
    )
    readings = await _every(lambda c: list_progress(session, profile_id, _PAGE, c))
    now = utcnow()
    await insert_leaver_event(
        session, profile_id=profile_id, client_id=LEAVER_CLIENT_ID, action=PROFILE_EXPORTED, at=now
    )
    return {
        "format": EXPORT_FORMAT,
        "exported_at": now,
        "profile": profile,
        "grants": grants,
        "access_log": log,
        "referrals": referrals,
        "progress": [reading_view(r) for r in readings],
    }
