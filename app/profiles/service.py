"""Profiles: kiosk creation, the leaver's own view and merge patch, and partner reads.

Who may see a profile through a partner read is decided in one place,
:data:`_VISIBLE_TO_ORGANISATION`: profiles holding an active grant (not revoked, not
expired at the statement's ``now``) to the caller's organisation. Both the single read
and the list go through it; everything else is 404, exactly like a missing profile.

The partner read is the hot path (DESIGN.md): one statement, :data:`_READ_ONE`, confirms
the caller's token is live, brings the profile with the organisation's active grants and
appends the access event, committing it before the row comes back;
``consent.policy.disclose`` then cuts the document down in memory, and the read answers
only if the event recorded exactly the leaves disclosed. The list reads through the same
choke point and appends its events in the request's transaction. No ORM objects, no
second validation of the response.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.log import AccessRecord, read_event_cte, record_reads, unrecorded
from app.auth.pins import hash_pin, validate_pin
from app.auth.principal import LIVE_CONDITION, Principal, Unconfirmed
from app.auth.tokens import InvalidToken
from app.consent.catalogue import READ_ONLY_SECTIONS
from app.consent.policy import GrantScope, disclose, disclosed_fields_sql
from app.db import Database
from app.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from app.models.base import utcnow
from app.models.profiles import Profile
from app.pagination import decode_cursor, page_of
from app.profiles.merge_patch import apply_merge_patch
from app.profiles.reference import new_reference
from app.profiles.schema import ProfileData, normalised, validate_document

logger = logging.getLogger(__name__)

REFERENCE_ATTEMPTS = 8


def _refuse_read_only(document: dict[str, Any], loc: tuple[str, ...]) -> None:
    for section in READ_ONLY_SECTIONS & document.keys():
        raise ValidationFailed(
            f"'{section}' is read-only: it is recorded by its own endpoint",
            loc=[*loc, section],
        )


async def create_profile(
    session: AsyncSession, *, pin: str, data: ProfileData | None, client_id: str
) -> dict[str, Any]:
    """Create a profile with a fresh ``ONW-XXXX-XXXX`` reference (retried on collision)."""
    validate_pin(pin)
    document = normalised(data) if data is not None else {}
    _refuse_read_only(document, ("body", "data"))
    pin_hash = await hash_pin(pin)
    now = utcnow()
    for _ in range(REFERENCE_ATTEMPTS):
        row = (
            await session.execute(
                insert(Profile)
                .values(
                    id=uuid.uuid4(),
                    reference=new_reference(),
                    pin_hash=pin_hash,
                    data=document,
                    version=1,
                    created_at=now,
                    updated_at=now,
                    created_by_client_id=client_id,
                )
                .on_conflict_do_nothing(index_elements=[Profile.reference])
                .returning(Profile.id, Profile.reference, Profile.created_at)
            )
        ).one_or_none()
        if row is not None:
            return {"id": row.id, "reference": row.reference, "created_at": row.created_at}
    # 40 bits of reference space: reaching this means something else is wrong.
    raise Conflict("Could not allocate a unique reference; try again")


_OWN_COLUMNS = (
    Profile.id,
    Profile.reference,
    Profile.data,
    Profile.version,
    Profile.created_at,
    Profile.updated_at,
)


def _own_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "reference": row.reference,
        "data": row.data,
        "version": row.version,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


async def get_own_profile(session: AsyncSession, profile_id: uuid.UUID) -> dict[str, Any]:
    row = (
        await session.execute(select(*_OWN_COLUMNS).where(Profile.id == profile_id))
    ).one_or_none()
    if row is None:
        raise NotFound("No such profile")
    return _own_view(row)


async def patch_own_profile(
    session: AsyncSession,
    profile_id: uuid.UUID,
    patch: Any,
    *,
    if_match: set[int] | None,
) -> dict[str, Any]:
    """Apply an RFC 7396 merge patch to ``data``, validate the whole result, bump the version.

    ``if_match`` holds the versions the client accepts (None for ``*``). The row is locked
    while the patch is applied, so two concurrent patches cannot both pass the check.
    """
    if not isinstance(patch, dict):
        raise ValidationFailed("A merge patch of the profile must be a JSON object", loc=["body"])
    _refuse_read_only(patch, ("body",))
    current = (
        await session.execute(
            select(Profile.data, Profile.version).where(Profile.id == profile_id).with_for_update()
        )
    ).one_or_none()
    if current is None:
        raise NotFound("No such profile")
    if if_match is not None and current.version not in if_match:
        raise PreconditionFailed(
            "The profile has changed since you read it: fetch it again and reapply your change"
        )
    document = validate_document(apply_merge_patch(current.data, patch), ("body",))
    row = (
        await session.execute(
            update(Profile)
            .where(Profile.id == profile_id)
            .values(data=document, version=Profile.version + 1, updated_at=utcnow())
            .returning(*_OWN_COLUMNS)
        )
    ).one()
    return _own_view(row)


# ---------------------------------------------------------------------------------------
# Partner reads
# ---------------------------------------------------------------------------------------

# The choke point: profiles with an active grant to the caller's organisation, and
# those grants. Every partner read and list is built on this and nothing else.
_VISIBLE_TO_ORGANISATION = """
      FROM consent_grants AS g
      JOIN profiles AS p ON p.id = g.profile_id
     WHERE g.organisation_id = :org
       AND g.revoked_at IS NULL
       AND g.expires_at > :now
"""

# The grants' columns, in the order they were given (the same for every partner read).
_GRANT_COLUMNS = """
           array_agg(g.id ORDER BY g.granted_at, g.id) AS grant_ids,
           array_agg(g.expires_at ORDER BY g.granted_at, g.id) AS grant_expiry,
           jsonb_agg(to_jsonb(g.fields) ORDER BY g.granted_at, g.id) AS grant_fields
"""

# The list: only the sections the grants touch leave the database (a profile's story or
# health notes are not even read unless a grant names them); consent.policy.disclose then
# cuts that down to exactly the granted leaves.
_SELECT_WITH_GRANTS = (
    """
    SELECT p.id, p.version, p.updated_at,
           COALESCE((SELECT jsonb_object_agg(s.section, p.data -> s.section)
                       FROM (SELECT DISTINCT split_part(f, '.', 1) AS section
                               FROM jsonb_array_elements(jsonb_agg(to_jsonb(g.fields))) AS a,
                                    jsonb_array_elements_text(a) AS f) AS s
                      WHERE p.data ? s.section), '{}'::jsonb) AS data,"""  # noqa: S608 - constants
    + _GRANT_COLUMNS
)

# The hot path, in one statement and one round trip ($1 client_id, $2 jti, $3 organisation,
# $4 now, $5 profile id):
# - `v`: the profile and the organisation's active grants, through the choke point, and
#   only while the caller's token is live. `allowed` is the union of the granted paths
#   (paths are catalogue identifiers, validated when granted, so never hold a comma; one
#   that did would make the event record more than disclose() shows, and the read fail).
# - `ev`: the access event, recording consent.policy.disclosed_fields_sql's leaves; written
#   whenever `v` has a row, durable (autocommit) before the row reaches us. So every
#   returned profile was recorded; the reverse need not hold (the read can still fail
#   after the statement, and the log then shows a read that returned nothing).
# - the row: the profile and grants, the leaves the event recorded, and whether the token
#   is live (looked up only when no profile came back, to tell 401 from 404).
# The whole document is selected here: consent.policy.disclose cuts it in memory. Cutting
# it to the granted sections in SQL, as the list does, cost ~60 us of PostgreSQL CPU per
# read (18 %), and PostgreSQL's core is what bounds the read's throughput (bench/).
_READ_ONE = (
    "WITH v AS (SELECT p.id, p.version, p.updated_at, p.data,"  # noqa: S608 - constants
    + _GRANT_COLUMNS
    + ", string_to_array(string_agg(array_to_string(g.fields, ','), ','), ',') AS allowed"
    + _VISIBLE_TO_ORGANISATION.replace(":org", "$3").replace(":now", "$4")
    + " AND p.id = $5 AND "
    + LIVE_CONDITION
    + " GROUP BY p.id), ev AS ("
    + read_event_cte(
        "v", fields=disclosed_fields_sql("v.data", "v.allowed"), organisation="$3", client="$1"
    )
    + ") SELECT CASE WHEN v.id IS NOT NULL THEN true ELSE "
    + LIVE_CONDITION
    + " END AS live, v.id, v.version, v.updated_at, v.data, v.grant_ids, v.grant_expiry,"
    " v.grant_fields, (SELECT fields FROM ev) AS event_fields"
    " FROM (SELECT 1) AS one LEFT JOIN v ON true"
)


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _partner_view(row: Any, now: datetime) -> tuple[dict[str, Any], AccessRecord]:
    return _view(
        row.id,
        row.data,
        row.version,
        row.updated_at,
        row.grant_ids,
        row.grant_expiry,
        row.grant_fields,
        now,
    )


def _view(
    profile_id: uuid.UUID,
    data: dict[str, Any],
    version: int,
    updated_at: datetime,
    grant_ids: list[uuid.UUID],
    grant_expiry: list[datetime],
    grant_fields: list[list[str]],
    now: datetime,
) -> tuple[dict[str, Any], AccessRecord]:
    grants = [
        GrantScope(gid, tuple(fields), expiry)
        for gid, expiry, fields in zip(grant_ids, grant_expiry, grant_fields, strict=True)
    ]
    disclosure = disclose(data, grants, now)
    view = {
        "id": str(profile_id),
        "data": disclosure.data,
        "disclosed_fields": disclosure.fields,
        "grant_ids": [str(g) for g in disclosure.grant_ids],
        "version": version,
        "updated_at": _rfc3339(updated_at),
    }
    return view, AccessRecord(profile_id, disclosure.fields, list(disclosure.grant_ids))


def render(document: dict[str, Any]) -> bytes:
    """The partner view as JSON: already plain JSON types, so no model round trip."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


async def read_for_partner(db: Database, caller: Unconfirmed, profile_id: str) -> dict[str, Any]:
    """The consented cut of one profile, with its access event written, or NotFound.

    One round trip and no transaction block: :data:`_READ_ONE` confirms the token is
    live, brings the profile with the organisation's active grants and records the
    access event (autocommit, synchronous commit) before anything is returned.
    """
    principal = caller.principal
    try:
        pid = uuid.UUID(profile_id)
    except ValueError:
        pid = None
    now = utcnow()
    async with db.raw() as conn:
        try:
            row = await conn.fetchrow(
                _READ_ONE, principal.client_id, principal.jti, principal.org_id, now, pid
            )
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
            raise unrecorded() from exc
    if row["id"] is None:
        # Nothing came back: a dead token (401) or nothing visible (404). `live` is only
        # looked up in this case; a returned profile implies it (see `v`).
        if row["live"] is not True:
            raise InvalidToken("token revoked or client disabled")
        raise NotFound("No such profile")
    view, _ = _view(
        row["id"],
        row["data"],
        row["version"],
        row["updated_at"],
        row["grant_ids"],
        row["grant_expiry"],
        row["grant_fields"],
        now,
    )
    if row["event_fields"] != view["disclosed_fields"]:
        # The access event must record exactly what is disclosed. The two rules are held
        # equal by tests; should they ever part, disclose nothing (the event over-records
        # at worst: a read that returned nothing) and say so where it can be alerted on.
        logger.error("partner read withheld: the access event's fields differ from disclose()")
        raise RuntimeError("access event fields differ from the disclosure")
    return view


async def list_for_partner(
    session: AsyncSession,
    principal: Principal,
    *,
    updated_since: datetime | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """Every profile visible to the caller's organisation, most recently updated first."""
    now = utcnow()
    params: dict[str, Any] = {"org": principal.org_id, "now": now, "limit": limit + 1}
    sql = _SELECT_WITH_GRANTS + _VISIBLE_TO_ORGANISATION
    if updated_since is not None:
        sql += " AND p.updated_at >= :since"
        params["since"] = updated_since
    if cursor is not None:
        params["c_at"], params["c_id"] = decode_cursor(cursor, datetime, uuid.UUID)
        sql += " AND (p.updated_at, p.id) < (:c_at, :c_id)"
    sql += " GROUP BY p.id ORDER BY p.updated_at DESC, p.id DESC LIMIT :limit"
    rows, next_cursor = page_of(
        (await session.execute(text(sql), params)).all(), limit, lambda r: (r.updated_at, r.id)
    )
    items: list[dict[str, Any]] = []
    records: list[AccessRecord] = []
    for row in rows:
        view, record = _partner_view(row, now)
        items.append(view)
        records.append(record)
    await record_reads(
        session, organisation_id=principal.org_id, client_id=principal.client_id, records=records
    )
    return {"items": items, "next_cursor": next_cursor}
