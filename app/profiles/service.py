"""Profiles: kiosk creation, the leaver's own view and merge patch, and partner reads.

Who may see a profile through a partner read is decided in one place,
``repository.servable_cuts``: the organisation's stored disclosure cuts (``consent.cuts``)
that have grants behind them, none expired. Both the single read and the list go through
it; everything else is 404, exactly like a missing profile.

The partner read is the hot path (DESIGN.md): one statement,
``repository.PARTNER_READ``, confirms the caller's token is live, brings the stored cut
and appends the access event with the cut's own fields, committing it before the row
comes back. Disclosure was decided when consent or the profile last changed; nothing is
decided again here. No ORM objects, no second validation of the response. Every
statement is in ``profiles.repository``.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.log import AccessRecord, record_reads, unrecorded
from app.auth.pins import hash_pin, validate_pin
from app.auth.principal import Principal, Unconfirmed, confirm_live
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
from app.pagination import decode_cursor, page_of
from app.profiles import repository
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
        row = await repository.insert_profile(
            session,
            reference=new_reference(),
            pin_hash=pin_hash,
            document=document,
            client_id=client_id,
            now=now,
        )
        if row is not None:
            return {"id": row.id, "reference": row.reference, "created_at": row.created_at}
    # 40 bits of reference space: reaching this means something else is wrong.
    raise Conflict("Could not allocate a unique reference; try again")


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
    row = await repository.own_profile(session, profile_id)
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
    current = await repository.lock_document(session, profile_id)
    if current is None:
        raise NotFound("No such profile")
    if_match.check(
        current.version,
        "The profile has changed since you read it: fetch it again and reapply your change",
    )
    document = validate_document(apply_merge_patch(current.data, patch), ("body",))
    row = await repository.replace_document(session, profile_id, document, utcnow())
    # Tell us once: every organisation's cut follows the change in the same transaction.
    await refresh_cuts(session, profile_id)
    return _own_view(row)


# ---------------------------------------------------------------------------------------
# Partner reads
# ---------------------------------------------------------------------------------------


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
    spliced from the parts ``repository.PARTNER_READ`` sends as JSON text: the document is
    never decoded and encoded again. ``id`` is a UUID's text, ``version`` an integer and
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
    try:
        return await repository.fetch_partner_read(
            db,
            client_id=principal.client_id,
            jti=principal.jti,
            organisation_id=principal.org_id,
            now=now,
            profile_id=pid,
        )
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
# written (repository.grant_with_profile): a revocation (which locks the profile first,
# see consent.cuts) waits for this read to commit, and every read after it sees the grant
# ended. `version` and `updated_at` are the organisation's cut's: they move whenever any
# leaf this token can see changes (and, at most, more often).
async def _read_under_grant(
    session: AsyncSession,
    principal: Principal,
    now: datetime,
    *,
    profile_id: uuid.UUID | None = None,
    updated_since: datetime | None = None,
) -> dict[str, Any] | None:
    """The one grant's cut of its profile, its access event written, or None."""
    row = await repository.grant_with_profile(
        session, principal, now, profile_id=profile_id, updated_since=updated_since
    )
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

    One round trip and no transaction block: ``repository.PARTNER_READ`` confirms the token is
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
    after = decode_cursor(cursor, datetime, uuid.UUID) if cursor is not None else None
    found = await repository.list_servable(
        session,
        principal.org_id,
        now,
        updated_since=updated_since,
        after=after,
        limit=limit + 1,
    )
    rows, next_cursor = page_of(
        [row._mapping for row in found], limit, lambda r: (r["updated_at"], r["id"])
    )
    items = [_view(row) for row in rows]
    await record_reads(
        session,
        organisation_id=principal.org_id,
        client_id=principal.client_id,
        records=[AccessRecord(r["id"], list(r["fields"]), list(r["grant_ids"])) for r in rows],
    )
    return {"items": items, "next_cursor": next_cursor}
