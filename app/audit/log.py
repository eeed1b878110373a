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

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

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


# One statement for any number of events (a list read writes one per profile).
_INSERT = text(
    """
    INSERT INTO access_events (id, profile_id, organisation_id, client_id, action, fields,
                               grant_ids, at)
    SELECT e.id, e.profile_id, :organisation_id, :client_id, :action,
           ARRAY(SELECT jsonb_array_elements_text(e.fields))::varchar(64)[],
           ARRAY(SELECT jsonb_array_elements_text(e.grant_ids))::uuid[],
           clock_timestamp()
      FROM jsonb_to_recordset(CAST(:events AS jsonb))
           AS e(id uuid, profile_id uuid, fields jsonb, grant_ids jsonb)
    """
).bindparams(bindparam("events", type_=JSONB))


def unrecorded() -> ServiceUnavailable:
    return ServiceUnavailable(
        "The read could not be recorded in the access log, so nothing was disclosed. "
        "Try again shortly.",
        headers={"Retry-After": "5"},
    )


def read_event_cte(source: str, *, fields: str, organisation: str, client: str) -> str:
    """The hot read's access event, as a data-modifying CTE of the read statement itself.

    ``source`` names a relation of at most one row with ``id`` (the profile) and
    ``grant_ids``; ``fields`` (the disclosed leaves), ``organisation`` and ``client`` are
    SQL expressions. In autocommit the event commits with the statement, under
    synchronous commit, before its result reaches the application: nothing can be
    disclosed that was not recorded, and a failed insert fails the whole read (the caller
    answers :func:`unrecorded`). ``fields`` is the stored cut's own column, so what is
    recorded is what is returned, by construction.
    """
    return (
        "INSERT INTO access_events (id, profile_id, organisation_id, client_id, action, "  # noqa: S608 - fragments are constants
        f"fields, grant_ids, at) SELECT gen_random_uuid(), {source}.id, {organisation}, "
        f"{client}, '{PROFILE_READ}', {fields}, {source}.grant_ids, clock_timestamp() "
        f"FROM {source}"
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
        await session.execute(
            _INSERT,
            {
                "organisation_id": organisation_id,
                "client_id": client_id,
                "action": action,
                "events": events,
            },
        )
    except DBAPIError as exc:
        raise unrecorded() from exc


_LOG = """
    SELECT e.seq, e.id, e.at, e.action, e.organisation_id, o.name AS organisation_name,
           e.client_id, e.fields, e.grant_ids, s.seal
      FROM access_events AS e
      LEFT JOIN organisations AS o ON o.id = e.organisation_id
      LEFT JOIN access_event_seals AS s ON s.event_seq = e.seq
     WHERE e.profile_id = :profile_id {after_cursor}
     ORDER BY e.seq DESC
     LIMIT :limit
"""
# Keyset pages walk ix_access_events_profile_seq (profile_id, seq DESC).
_LOG_FIRST = text(_LOG.format(after_cursor=""))
_LOG_NEXT = text(_LOG.format(after_cursor="AND e.seq < :before"))


async def access_log(
    session: AsyncSession, *, profile_id: uuid.UUID, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A leaver's access events, newest first, keyset-paginated by ``seq``."""
    params: dict[str, Any] = {"profile_id": profile_id, "limit": limit + 1}
    if cursor is not None:
        (params["before"],) = decode_cursor(cursor, int)
    statement = _LOG_FIRST if cursor is None else _LOG_NEXT
    rows, next_cursor = page_of(
        (await session.execute(statement, params)).all(), limit, lambda r: (r.seq,)
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
