"""Every statement of the referrals domain: referrals, their history, progress readings.

SQLAlchemy Core over the tables of ``app.models`` (no ORM unit of work, no SQL text).
Who may see a referral is decided in one place, :func:`_visible_to`: a leaver sees the
referrals they made, a provider's client sees the referrals to its organisation. Every
function that loads or lists referrals on behalf of a caller takes the caller's
:class:`Principal` and goes through it; anything else is simply not found.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Table,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.models.identity import Organisation
from app.models.offers import Offer
from app.models.profiles import ConsentGrant, Profile
from app.models.referrals import ProgressReading, Referral, ReferralEvent
from app.pagination import newest_first
from app.referrals.status import OPEN

_referrals = cast(Table, Referral.__table__)
_events = cast(Table, ReferralEvent.__table__)
_offers = cast(Table, Offer.__table__)
_organisations = cast(Table, Organisation.__table__)
_grants = cast(Table, ConsentGrant.__table__)
_profiles = cast(Table, Profile.__table__)
_readings = cast(Table, ProgressReading.__table__)

# A row of a statement below, read by column name.
Record = Row[*tuple[Any, ...]]

_OFFER_TITLE = _offers.c.body["title"].astext.label("offer_title")
# Whether the referral's grant still holds: not revoked (by the leaver, a withdrawal or
# the referral ending) and not expired. The message was shared under it.
_GRANT_LIVE: ColumnElement[bool] = and_(
    _grants.c.revoked_at.is_(None), _grants.c.expires_at > func.now()
).label("grant_live")
# The open statuses, as the partial unique index ``uq_referrals_profile_offer_open`` names
# them. PostgreSQL infers a partial index for ON CONFLICT only from a WHERE it can prove
# implies the index's, which bound parameters are not (under a generic plan): as
# ``index_where`` the values are rendered into the statement, by SQLAlchemy.
_OPEN_STATUSES = sorted(OPEN)
_OPEN_INDEX_WHERE = _referrals.c.status.in_(
    bindparam("open_statuses", _OPEN_STATUSES, expanding=True, literal_execute=True)
)


@dataclass(frozen=True, slots=True)
class VisibleReferral:
    """A referral as its viewer loads it: the row, the offer's title, the provider's name
    and whether the referral's grant is live."""

    id: uuid.UUID
    profile_id: uuid.UUID
    offer_id: uuid.UUID
    organisation_id: uuid.UUID
    grant_id: uuid.UUID
    status: str
    message: str | None
    created_at: datetime
    updated_at: datetime
    offer_title: str
    organisation_name: str
    grant_live: bool


# --- the choke point: who may see which referral --------------------------------------


def _visible_to(principal: Principal) -> Select[Any]:
    """The referrals this principal may see, with the offer's title, the provider's name
    and whether the referral's grant is live: a leaver's own, or those to a client's
    organisation. Nothing else, ever."""
    scope = (
        _referrals.c.profile_id == principal.profile_id
        if principal.is_leaver
        else _referrals.c.organisation_id == principal.org_id
    )
    return (
        select(
            _referrals.c.id,
            _referrals.c.profile_id,
            _referrals.c.offer_id,
            _referrals.c.organisation_id,
            _referrals.c.grant_id,
            _referrals.c.status,
            _referrals.c.message,
            _referrals.c.created_at,
            _referrals.c.updated_at,
            _OFFER_TITLE,
            _organisations.c.name.label("organisation_name"),
            _GRANT_LIVE,
        )
        .join_from(_referrals, _offers, _offers.c.id == _referrals.c.offer_id)
        .join(_organisations, _organisations.c.id == _referrals.c.organisation_id)
        .join(_grants, _grants.c.id == _referrals.c.grant_id)
        .where(scope)
    )


def _visible(row: Record) -> VisibleReferral:
    values = dict(row._mapping)
    values["grant_live"] = bool(values["grant_live"])
    return VisibleReferral(**values)


async def load_visible(
    session: AsyncSession, principal: Principal, referral_id: uuid.UUID, *, for_update: bool
) -> VisibleReferral | None:
    """The referral if the principal may see it, else None. ``for_update`` locks the
    referral row alone: concurrent moves (provider and leaver) serialise there."""
    statement = _visible_to(principal).where(_referrals.c.id == referral_id)
    if for_update:
        statement = statement.with_for_update(of=_referrals)
    row = (await session.execute(statement)).one_or_none()
    return None if row is None else _visible(row)


async def page_visible(
    session: AsyncSession,
    principal: Principal,
    *,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> list[VisibleReferral]:
    """Up to ``limit + 1`` of the principal's referrals, newest first (created_at, then
    id), optionally by status."""
    statement = _visible_to(principal)
    if status is not None:
        statement = statement.where(_referrals.c.status == status)
    order = (Referral.created_at, Referral.id)
    statement = newest_first(statement, order, limit=limit, cursor=cursor)
    return [_visible(row) for row in (await session.execute(statement)).all()]


async def histories(session: AsyncSession, referral_ids: Sequence[uuid.UUID]) -> Sequence[Record]:
    """Every status each of the (already visible) referrals entered, oldest first, in one
    statement: referral_id, status, at, note."""
    statement = (
        select(_events.c.referral_id, _events.c.status, _events.c.at, _events.c.note)
        .where(_events.c.referral_id.in_(referral_ids))
        .order_by(_events.c.referral_id, _events.c.seq)
    )
    return (await session.execute(statement)).all()


# --- the leaver asks ------------------------------------------------------------------


async def referrable_offer(
    session: AsyncSession, *, profile_id: uuid.UUID, offer_id: uuid.UUID, today: date
) -> Record | None:
    """The offer if it is published and within its validity dates on ``today`` (id,
    organisation_id, version, offer_title), and whether this leaver already has an open
    referral to it (``already_open``); None otherwise.

    The offer's row is share-locked until the transaction ends: an offer replaced
    meanwhile waits, so the version read here is the version a referral is made against.
    """
    already_open = exists().where(
        _referrals.c.profile_id == profile_id,
        _referrals.c.offer_id == _offers.c.id,
        _referrals.c.status.in_(_OPEN_STATUSES),
    )
    statement = (
        select(
            _offers.c.id,
            _offers.c.organisation_id,
            _offers.c.version,
            _OFFER_TITLE,
            already_open.label("already_open"),
        )
        .where(
            _offers.c.id == offer_id,
            _offers.c.status == "published",
            or_(_offers.c.valid_from.is_(None), _offers.c.valid_from <= today),
            or_(_offers.c.valid_until.is_(None), _offers.c.valid_until >= today),
        )
        .with_for_update(read=True, of=_offers)
    )
    return (await session.execute(statement)).one_or_none()


async def insert_open_referral(session: AsyncSession, **values: Any) -> bool:
    """Store a new open referral; False (and nothing stored) when the leaver already has
    an open referral to the offer.

    A concurrent request for the same leaver and offer that committed first wins: this
    INSERT waits for it at the partial unique index, then inserts nothing.
    """
    statement = (
        postgresql.insert(_referrals)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=[_referrals.c.profile_id, _referrals.c.offer_id],
            index_where=_OPEN_INDEX_WHERE,
        )
        .returning(_referrals.c.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


# --- moves ----------------------------------------------------------------------------


async def set_status(
    session: AsyncSession, referral_id: uuid.UUID, *, status: str, at: datetime
) -> None:
    """Move a referral (the caller has loaded it through :func:`load_visible`, locked)."""
    await session.execute(
        update(_referrals)
        .where(_referrals.c.id == referral_id)
        .values(status=status, updated_at=at)
    )


async def append_event(
    session: AsyncSession,
    *,
    referral_id: uuid.UUID,
    status: str,
    note: str | None,
    actor_client_id: str,
    at: datetime,
) -> None:
    """One status the referral entered, in its history."""
    await session.execute(
        insert(_events).values(
            referral_id=referral_id,
            status=status,
            note=note,
            actor_client_id=actor_client_id,
            at=at,
        )
    )


# --- progress readings (the leaver's own) ---------------------------------------------


async def insert_reading(
    session: AsyncSession, *, profile_id: uuid.UUID, readings: dict[str, int], at: datetime
) -> Record:
    """Store a reading; it as stored (id, readings, recorded_at)."""
    statement = (
        insert(_readings)
        .values(id=uuid.uuid4(), profile_id=profile_id, readings=readings, recorded_at=at)
        .returning(_readings.c.id, _readings.c.readings, _readings.c.recorded_at)
    )
    return (await session.execute(statement)).one()


async def set_latest_reading(
    session: AsyncSession, *, profile_id: uuid.UUID, latest: dict[str, Any], at: datetime
) -> None:
    """Write ``latest`` into the profile document as ``progress.latest`` (replacing the
    whole ``progress`` section), and move the profile's version on."""
    await session.execute(
        update(_profiles)
        .where(_profiles.c.id == profile_id)
        .values(
            data=func.jsonb_set(
                _profiles.c.data,
                literal(["progress"], postgresql.ARRAY(postgresql.TEXT)),
                literal({"latest": latest}, postgresql.JSONB),
                True,
            ),
            version=_profiles.c.version + 1,
            updated_at=at,
        )
    )


async def page_of_readings(
    session: AsyncSession, profile_id: uuid.UUID, *, limit: int, cursor: str | None
) -> Sequence[Record]:
    """Up to ``limit + 1`` of the leaver's readings, newest first (recorded_at, then id)."""
    statement: Select[Any] = select(
        _readings.c.id, _readings.c.readings, _readings.c.recorded_at
    ).where(_readings.c.profile_id == profile_id)
    order = (ProgressReading.recorded_at, ProgressReading.id)
    rows: Sequence[Record] = (
        await session.execute(newest_first(statement, order, limit=limit, cursor=cursor))
    ).all()
    return rows
