"""Profiles: kiosk creation, the leaver's own view and merge patch, and partner reads.

Who may see a profile through a partner read is decided in one place,
:data:`_SERVABLE_TO_ORGANISATION`: the organisation's stored disclosure cuts
(``consent.cuts``) that have grants behind them, none expired. Both the single read and
the list go through it; everything else is 404, exactly like a missing profile.

The partner read is the hot path (DESIGN.md): one statement, :data:`_READ_ONE`, confirms
the caller's token is live, brings the stored cut and appends the access event with the
cut's own fields, committing it before the row comes back. Disclosure was decided when
consent or the profile last changed; nothing is decided again here. No ORM objects, no
second validation of the response.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.log import AccessRecord, read_event_cte, record_reads, unrecorded
from app.auth.pins import hash_pin, validate_pin
from app.auth.principal import LIVE_CONDITION, Principal, Unconfirmed, confirm_live
from app.auth.reference import new_reference
from app.auth.tokens import InvalidToken
from app.consent.catalogue import READ_ONLY_SECTIONS
from app.consent.cuts import (
    compute_cut,
    refresh_cuts,
    refresh_if_stale,
    refresh_stale_for_organisation,
)
from app.consent.policy import GrantScope
from app.db import Database
from app.errors import Conflict, NotFound, ValidationFailed, database_fault
from app.etags import IfMatch
from app.models.base import utcnow
from app.models.profiles import Profile
from app.pagination import decode_cursor, page_of
from app.profiles.merge_patch import apply_merge_patch
from app.profiles.schema import ProfileData, normalised, validate_document

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
    if_match: IfMatch,
) -> dict[str, Any]:
    """Apply an RFC 7396 merge patch to ``data``, validate the whole result, bump the version.

    ``if_match`` names the versions the client accepts (``app.etags``). The row is locked
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
    if_match.check(
        current.version,
        "The profile has changed since you read it: fetch it again and reapply your change",
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
    # Tell us once: every organisation's cut follows the change in the same transaction.
    await refresh_cuts(session, profile_id)
    return _own_view(row)


# ---------------------------------------------------------------------------------------
# Partner reads
# ---------------------------------------------------------------------------------------

# The choke point: an organisation's servable cuts (consent.cuts decided them when consent
# or the profile last changed). A cut is servable while it has grants behind it and none
# of them has expired (`valid_until`, their earliest expiry); a stale one (a grant
# expired, or a trigger marked it) is never served, only recomputed. Every partner read
# and list is built on this and nothing else.
_SERVABLE_TO_ORGANISATION = """
      FROM disclosure_cuts AS c
     WHERE c.organisation_id = {org}
       AND c.valid_until > {now}
       AND cardinality(c.grant_ids) > 0
"""

_CUT_COLUMNS = "c.profile_id AS id, c.version, c.updated_at, c.data, c.fields, c.grant_ids"

# The hot path, in one statement and one round trip ($1 client_id, $2 jti, $3 organisation,
# $4 now, $5 profile id):
# - `v`: the organisation's stored cut of the profile, through the choke point, and only
#   while the caller's token is live;
# - `ev`: the access event, recording the cut's own `fields` (what is disclosed is what is
#   recorded, by construction); written whenever `v` has a row, durable (autocommit)
#   before the row reaches us;
# - the row: the cut, its document and arrays already as JSON text (PostgreSQL writes
#   them as text on the wire anyway: see _render_one), and whether the token is live
#   (looked up only when no cut came back, to tell 401 from 404).
_READ_ONE = (
    f"WITH v AS (SELECT {_CUT_COLUMNS}"  # noqa: S608 - constants
    + _SERVABLE_TO_ORGANISATION.format(org="$3", now="$4")
    + " AND c.profile_id = $5 AND "
    + LIVE_CONDITION
    + "), ev AS ("
    + read_event_cte("v", fields="v.fields", organisation="$3", client="$1")
    + ") SELECT CASE WHEN v.id IS NOT NULL THEN true ELSE "
    + LIVE_CONDITION
    + " END AS live, v.id::text AS id, v.version, v.updated_at, v.data::text AS data,"
    " array_to_json(v.fields)::text AS fields, array_to_json(v.grant_ids)::text AS grant_ids"
    " FROM (SELECT 1) AS one LEFT JOIN v ON true"
)


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _view(row: Any) -> dict[str, Any]:
    """The partner view of a stored cut: already plain JSON types."""
    return {
        "id": str(row["id"]),
        "data": row["data"],
        "disclosed_fields": list(row["fields"]),
        "grant_ids": [str(g) for g in row["grant_ids"]],
        "version": row["version"],
        "updated_at": _rfc3339(row["updated_at"]),
    }


def render(document: dict[str, Any]) -> bytes:
    """The partner view as JSON: already plain JSON types, so no model round trip."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _render_one(row: Any) -> bytes:
    """The partner view of one stored cut (:func:`_view`'s keys, in its order) as JSON,
    spliced from the parts :data:`_READ_ONE` sends as JSON text: the document is never
    decoded and encoded again. ``id`` is a UUID's text, ``version`` an integer and
    ``updated_at`` RFC 3339: none needs escaping."""
    return b"".join(
        (
            b'{"id":"',
            row["id"].encode(),
            b'","data":',
            row["data"].encode(),
            b',"disclosed_fields":',
            row["fields"].encode(),
            b',"grant_ids":',
            row["grant_ids"].encode(),
            b',"version":',
            str(row["version"]).encode(),
            b',"updated_at":"',
            _rfc3339(row["updated_at"]).encode(),
            b'"}',
        )
    )


async def _fetch_cut(
    db: Database, principal: Principal, pid: uuid.UUID | None, now: datetime
) -> Any:
    args = (_READ_ONE, principal.client_id, principal.jti, principal.org_id, now, pid)
    try:
        if db.pool is not None:  # production: straight to the pool, autocommit
            async with db.pool.acquire(timeout=db.timeout) as conn:
                return await conn.fetchrow(*args)
        async with db.raw() as conn:
            return await conn.fetchrow(*args)
    except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
        if database_fault(exc):
            # The database is unreachable or too slow: errors' one mapping answers 503
            # (and runs the read once more when its connection was lost).
            raise
        raise unrecorded() from exc


# ---- Tokens bound to one grant (the authorization code flow, API.md §3 and §7) ----------
#
# Such a token sees that grant's leaves only, never its organisation's union, so the
# stored per-organisation cut cannot serve it: the cut is computed from that one grant
# by consent.policy.disclose (through cuts.compute_cut, the same rule the stored cuts
# use). The profile row is share-locked while the grant is read and the access event
# written: a revocation (which locks the profile first, see consent.cuts) waits for this
# read to commit, and every read after it sees the grant ended. `version` and
# `updated_at` are the organisation's cut's: they move whenever any leaf this token can
# see changes (and, at most, more often).
_UNDER_GRANT = """
    SELECT p.id, p.data, g.id AS grant_id, g.fields, g.expires_at, g.explicit,
           coalesce(c.version, 1) AS version, coalesce(c.updated_at, g.granted_at) AS updated_at
      FROM consent_grants AS g
      JOIN profiles AS p ON p.id = g.profile_id
      LEFT JOIN disclosure_cuts AS c
             ON c.profile_id = g.profile_id AND c.organisation_id = g.organisation_id
     WHERE g.id = :grant_id AND g.organisation_id = :org
       AND g.revoked_at IS NULL AND g.expires_at > :now {condition}
       FOR SHARE OF p
"""


async def _read_under_grant(
    session: AsyncSession,
    principal: Principal,
    now: datetime,
    *,
    profile_id: uuid.UUID | None = None,
    updated_since: datetime | None = None,
) -> dict[str, Any] | None:
    """The one grant's cut of its profile, its access event written, or None."""
    assert principal.grant_id is not None
    params: dict[str, Any] = {"grant_id": principal.grant_id, "org": principal.org_id, "now": now}
    condition = ""
    if profile_id is not None:
        condition += " AND g.profile_id = :pid"
        params["pid"] = profile_id
    if updated_since is not None:
        condition += " AND coalesce(c.updated_at, g.granted_at) >= :since"
        params["since"] = updated_since
    row = (
        await session.execute(text(_UNDER_GRANT.format(condition=condition)), params)
    ).one_or_none()
    if row is None:
        return None
    grant = GrantScope(row.grant_id, tuple(row.fields), row.expires_at, None, row.explicit)
    cut = compute_cut(row.data, [grant], now)
    # What is recorded is what is returned: the same `cut`.
    await record_reads(
        session,
        organisation_id=principal.org_id,
        client_id=principal.client_id,
        records=[AccessRecord(row.id, cut.fields, cut.grant_ids)],
    )
    return _view(
        {
            "id": row.id,
            "data": cut.data,
            "fields": cut.fields,
            "grant_ids": cut.grant_ids,
            "version": row.version,
            "updated_at": row.updated_at,
        }
    )


async def _read_one_under_grant(
    db: Database, principal: Principal, pid: uuid.UUID | None, now: datetime
) -> dict[str, Any]:
    async with db.sessionmaker() as session:
        # The token's liveness (client and organisation active, jti not revoked) first,
        # in the transaction that reads and records.
        await confirm_live(session, principal)
        view = (
            await _read_under_grant(session, principal, now, profile_id=pid)
            if pid is not None
            else None
        )
        await session.commit()
    if view is None:
        raise NotFound("No such profile")
    return view


async def read_for_partner(db: Database, caller: Unconfirmed, profile_id: str) -> bytes:
    """The consented cut of one profile as the JSON answer, with its access event
    written, or NotFound.

    One round trip and no transaction block: :data:`_READ_ONE` confirms the token is
    live, brings the organisation's stored cut and records the access event (autocommit,
    synchronous commit) before anything is returned. Only when no servable cut exists is
    more done: a stale one (a grant expired since it was decided) is recomputed and the
    read tried once more. A token bound to one grant (the authorization code flow) is
    served that grant's cut instead (:func:`_read_under_grant`).
    """
    principal = caller.principal
    try:
        pid = uuid.UUID(profile_id)
    except ValueError:
        pid = None
    now = utcnow()
    if principal.grant_id is not None:
        return render(await _read_one_under_grant(db, principal, pid, now))
    row = await _fetch_cut(db, principal, pid, now)
    if row["id"] is None and row["live"] is True and pid is not None and principal.org_id:
        async with db.sessionmaker() as session:
            refreshed = await refresh_if_stale(session, pid, principal.org_id, now)
            await session.commit()
        if refreshed:
            row = await _fetch_cut(db, principal, pid, now)
    if row["id"] is None:
        # Nothing came back: a dead token (401) or nothing visible (404). `live` is only
        # looked up in this case; a returned cut implies it (see `v`).
        if row["live"] is not True:
            raise InvalidToken("token revoked or client disabled")
        raise NotFound("No such profile")
    return _render_one(row)


async def list_for_partner(
    session: AsyncSession,
    principal: Principal,
    *,
    updated_since: datetime | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """Every profile shared with the caller's organisation, its cut most recently changed
    first. ``updated_since`` compares with the organisation's own ``updated_at``, so a
    profile newly shared after that instant is listed."""
    now = utcnow()
    assert principal.org_id is not None  # a partner token always names its organisation
    if principal.grant_id is not None:
        # A token bound to one grant lists that grant's profile, or nothing: one item at
        # most, so a cursor never leads anywhere (it is still checked).
        if cursor is not None:
            decode_cursor(cursor, datetime, uuid.UUID)
            return {"items": [], "next_cursor": None}
        view = await _read_under_grant(session, principal, now, updated_since=updated_since)
        return {"items": [view] if view is not None else [], "next_cursor": None}
    await refresh_stale_for_organisation(session, principal.org_id, now)
    params: dict[str, Any] = {"org": principal.org_id, "now": now, "limit": limit + 1}
    sql = f"SELECT {_CUT_COLUMNS}" + _SERVABLE_TO_ORGANISATION.format(org=":org", now=":now")
    if updated_since is not None:
        sql += " AND c.updated_at >= :since"
        params["since"] = updated_since
    if cursor is not None:
        params["c_at"], params["c_id"] = decode_cursor(cursor, datetime, uuid.UUID)
        sql += " AND (c.updated_at, c.profile_id) < (:c_at, :c_id)"
    sql += " ORDER BY c.updated_at DESC, c.profile_id DESC LIMIT :limit"
    rows, next_cursor = page_of(
        (await session.execute(text(sql), params)).mappings().all(),
        limit,
        lambda r: (r["updated_at"], r["id"]),
    )
    items = [_view(row) for row in rows]
    await record_reads(
        session,
        organisation_id=principal.org_id,
        client_id=principal.client_id,
        records=[AccessRecord(r["id"], list(r["fields"]), list(r["grant_ids"])) for r in rows],
    )
    return {"items": items, "next_cursor": next_cursor}
