"""Every statement of the consent domain: grants, disclosure cuts and the change feed rows.

SQLAlchemy Core over the tables of ``app.models`` (no ORM unit of work, no SQL text). The
leaver's grants are reached only through :func:`_own_grants`, which scopes every statement
that loads or lists grants to the calling leaver's profile; the cuts' statements are called
only by ``consent.cuts`` (the one writer of ``disclosure_cuts``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Select, Table, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.identity import Organisation
from app.models.profiles import ConsentGrant, DisclosureCut, Profile, ProfileChange
from app.pagination import newest_first

_grants = cast(Table, ConsentGrant.__table__)
_organisations = cast(Table, Organisation.__table__)
_profiles = cast(Table, Profile.__table__)
_cuts = cast(Table, DisclosureCut.__table__)
_changes = cast(Table, ProfileChange.__table__)

# A row of a statement below, read by column name.
Record = Row[*tuple[Any, ...]]

# A grant as the API shows it: every column, and the recipient's name as ``name``.
_GRANT_COLUMNS = (
    _grants.c.id,
    _grants.c.organisation_id,
    _grants.c.fields,
    _grants.c.purpose,
    _grants.c.explicit,
    _grants.c.granted_at,
    _grants.c.expires_at,
    _grants.c.revoked_at,
    _grants.c.receipt,
    _grants.c.revocation_receipt,
)


# --- the profile's lock ---------------------------------------------------------------


async def lock_profile(session: AsyncSession, profile_id: uuid.UUID) -> dict[str, Any] | None:
    """Lock the profile row (FOR NO KEY UPDATE) and return its data, or None if missing.

    NO KEY UPDATE, not UPDATE: it must not wait for the key-share locks that foreign-key
    checks of concurrent inserts (access events aside, grants and referrals) hold.
    """
    data: dict[str, Any] | None = (
        await session.execute(
            select(_profiles.c.data)
            .where(_profiles.c.id == profile_id)
            .with_for_update(key_share=True)
        )
    ).scalar_one_or_none()
    return data


# --- grants: the one choke point ------------------------------------------------------


def _own_grants(profile_id: uuid.UUID) -> Select[Any]:
    """The one choke point: a leaver's grants, with the recipient's name."""
    return (
        select(*_GRANT_COLUMNS, _organisations.c.name)
        .join_from(_grants, _organisations, _organisations.c.id == _grants.c.organisation_id)
        .where(_grants.c.profile_id == profile_id)
    )


async def recipient(
    session: AsyncSession, *, profile_id: uuid.UUID, organisation_id: uuid.UUID
) -> Record:
    """The recipient's name (None if no such organisation) and whether the leaver's profile
    still exists (``profile_exists``), in one trip."""
    statement = select(
        select(_organisations.c.name)
        .where(_organisations.c.id == organisation_id)
        .scalar_subquery()
        .label("name"),
        exists().where(_profiles.c.id == profile_id).label("profile_exists"),
    )
    return (await session.execute(statement)).one()


async def insert_grant(session: AsyncSession, **values: Any) -> Record:
    """Store a grant; the stored row (every column the API shows)."""
    statement = insert(_grants).values(**values).returning(*_GRANT_COLUMNS)
    return (await session.execute(statement)).one()


async def page_of_grants(
    session: AsyncSession,
    *,
    profile_id: uuid.UUID,
    status: str | None,
    now: datetime,
    limit: int,
    cursor: str | None,
) -> Sequence[Record]:
    """Up to ``limit + 1`` of the leaver's grants, newest first (granted_at, then id),
    optionally by status (active, revoked or expired at ``now``)."""
    statement = _own_grants(profile_id)
    if status == "active":
        statement = statement.where(_grants.c.revoked_at.is_(None), _grants.c.expires_at > now)
    elif status == "revoked":
        statement = statement.where(_grants.c.revoked_at.is_not(None))
    elif status == "expired":
        statement = statement.where(_grants.c.revoked_at.is_(None), _grants.c.expires_at <= now)
    order = (ConsentGrant.granted_at, ConsentGrant.id)
    rows: Sequence[Record] = (
        await session.execute(newest_first(statement, order, limit=limit, cursor=cursor))
    ).all()
    return rows


async def grant_to_revoke(
    session: AsyncSession, *, profile_id: uuid.UUID, grant_id: uuid.UUID
) -> Record | None:
    """The leaver's grant (id, organisation_id, revoked_at and the recipient's ``name``),
    row-locked until the transaction ends; None for a missing or another leaver's grant."""
    statement = (
        _own_grants(profile_id)
        .with_only_columns(
            _grants.c.id, _grants.c.organisation_id, _grants.c.revoked_at, _organisations.c.name
        )
        .where(_grants.c.id == grant_id)
        .with_for_update(of=_grants)
    )
    return (await session.execute(statement)).one_or_none()


async def revoke(
    session: AsyncSession, *, grant_id: uuid.UUID, now: datetime, receipt: str | None
) -> Record:
    """Revoke the grant, keeping an earlier ``revoked_at`` and revocation receipt (so a
    second revocation changes nothing); the grant as stored, with the recipient's name."""
    statement = (
        update(_grants)
        .where(_grants.c.id == grant_id, _organisations.c.id == _grants.c.organisation_id)
        .values(
            revoked_at=func.coalesce(_grants.c.revoked_at, now),
            revocation_receipt=func.coalesce(_grants.c.revocation_receipt, receipt),
        )
        .returning(*_GRANT_COLUMNS, _organisations.c.name)
    )
    return (await session.execute(statement)).one()


# --- disclosure cuts (consent.cuts only) ----------------------------------------------


async def live_grants(
    session: AsyncSession,
    profile_id: uuid.UUID,
    organisation_ids: list[uuid.UUID] | None,
    now: datetime,
) -> Sequence[Record]:
    """The profile's grants live at ``now`` (of the given organisations, or all), oldest
    first: id, organisation_id, fields, expires_at, explicit."""
    statement = (
        select(
            _grants.c.id,
            _grants.c.organisation_id,
            _grants.c.fields,
            _grants.c.expires_at,
            _grants.c.explicit,
        )
        .where(
            _grants.c.profile_id == profile_id,
            _grants.c.revoked_at.is_(None),
            _grants.c.expires_at > now,
        )
        .order_by(_grants.c.granted_at, _grants.c.id)
    )
    if organisation_ids is not None:
        statement = statement.where(_grants.c.organisation_id.in_(organisation_ids))
    return (await session.execute(statement)).all()


async def stored_cuts(
    session: AsyncSession, profile_id: uuid.UUID, organisation_ids: list[uuid.UUID] | None
) -> Sequence[Record]:
    """The profile's stored cuts (of the given organisations, or all), every column."""
    statement = select(_cuts).where(_cuts.c.profile_id == profile_id)
    if organisation_ids is not None:
        statement = statement.where(_cuts.c.organisation_id.in_(organisation_ids))
    return (await session.execute(statement)).all()


async def append_change(
    session: AsyncSession,
    *,
    organisation_id: uuid.UUID,
    profile_id: uuid.UUID,
    change: str,
    at: datetime,
) -> None:
    """One change-feed item (its ``txid`` is the writing transaction's, by default)."""
    await session.execute(
        insert(_changes).values(
            id=uuid.uuid4(),
            organisation_id=organisation_id,
            profile_id=profile_id,
            type=change,
            at=at,
        )
    )


async def store_cut(
    session: AsyncSession,
    *,
    profile_id: uuid.UUID,
    organisation_id: uuid.UUID,
    first: dict[str, Any],
    values: dict[str, Any],
) -> None:
    """Insert the pair's cut as ``first`` (overridden by ``values``), or, when it exists,
    update it with ``values`` alone."""
    await session.execute(
        postgresql.insert(_cuts)
        .values(profile_id=profile_id, organisation_id=organisation_id, **{**first, **values})
        .on_conflict_do_update(
            index_elements=[_cuts.c.profile_id, _cuts.c.organisation_id], set_=values
        )
    )


async def stale_profiles_of(
    session: AsyncSession, organisation_id: uuid.UUID, now: datetime
) -> list[uuid.UUID]:
    """The profiles whose cut for the organisation is not servable at ``now``."""
    statement = select(_cuts.c.profile_id).where(
        _cuts.c.organisation_id == organisation_id, _cuts.c.valid_until <= now
    )
    return list((await session.execute(statement)).scalars())


async def pair_is_stale(
    session: AsyncSession, profile_id: uuid.UUID, organisation_id: uuid.UUID, now: datetime
) -> bool | None:
    """Whether the pair's stored cut is not servable at ``now``; None when it has none."""
    statement = select((_cuts.c.valid_until <= now).label("stale")).where(
        _cuts.c.organisation_id == organisation_id, _cuts.c.profile_id == profile_id
    )
    stale: bool | None = (await session.execute(statement)).scalar_one_or_none()
    return stale


async def due_pairs(session: AsyncSession, now: datetime, limit: int) -> Sequence[Record]:
    """Up to ``limit`` (profile_id, organisation_id) pairs whose cut is not servable at
    ``now``, longest lapsed first."""
    statement = (
        select(_cuts.c.profile_id, _cuts.c.organisation_id)
        .where(_cuts.c.valid_until <= now)
        .order_by(_cuts.c.valid_until)
        .limit(limit)
    )
    return (await session.execute(statement)).all()
