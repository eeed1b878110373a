"""Writing and reading access events.

The table is append-only in the database itself (migrations 0001 and 0002): a trigger
refuses UPDATE and DELETE whoever asks, and the application role ``onward_app`` holds
only SELECT and INSERT on it. Events are written in the same transaction as the read
they record; if the insert fails, the read fails with 503 and nothing is disclosed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import repository
from app.errors import ServiceUnavailable
from app.pagination import decode_cursor, page_of

PROFILE_READ = "profile.read"
# A provider opened or listed a referral (API.md §3): ``fields`` is ["referral.message"]
# when the referral's message was disclosed with it, else empty.
REFERRAL_READ = "referral.read"
REFERRAL_MESSAGE = "referral.message"


@dataclass(frozen=True, slots=True)
class AccessRecord:
    profile_id: uuid.UUID
    fields: list[str]
    grant_ids: list[uuid.UUID]


def unrecorded() -> ServiceUnavailable:
    return ServiceUnavailable(
        "The read could not be recorded in the access log, so nothing was disclosed. "
        "Try again shortly.",
        headers={"Retry-After": "5"},
    )


async def record_reads(
    session: AsyncSession,
    *,
    organisation_id: uuid.UUID,
    client_id: str,
    records: list[AccessRecord],
    action: str = PROFILE_READ,
) -> None:
    """Append one event per record, or raise ServiceUnavailable: no unrecorded disclosure."""
    if not records:
        return
    events = [
        {
            "id": str(uuid.uuid4()),
            "profile_id": str(r.profile_id),
            "fields": r.fields,
            "grant_ids": [str(g) for g in r.grant_ids],
        }
        for r in records
    ]
    try:
        await repository.insert_events(
            session,
            organisation_id=organisation_id,
            client_id=client_id,
            action=action,
            events=events,
        )
    except DBAPIError as exc:
        raise unrecorded() from exc


async def access_log(
    session: AsyncSession, *, profile_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A leaver's access events, newest first, keyset-paginated by ``seq``."""
    before: int | None = None
    if cursor is not None:
        (before,) = decode_cursor(cursor, int)
    rows, next_cursor = page_of(
        await repository.events_of_profile(
            session, profile_id=profile_id, limit=limit + 1, before=before
        ),
        limit,
        lambda r: (r.seq,),
    )
    items = [
        {
            "id": r.id,
            "at": r.at,
            "action": r.action,
            "organisation": (
                {"id": r.organisation_id, "name": r.organisation_name}
                if r.organisation_id is not None
                else None
            ),
            "client_id": r.client_id,
            "fields": list(r.fields),
            "grant_ids": list(r.grant_ids),
            "seal": r.seal,
        }
        for r in rows
    ]
    return items, next_cursor
