"""Every SQL statement of the offers domain, as SQLAlchemy Core.

Who may see an offer is decided here, in :func:`visible_to`: published offers are public;
any other status only to the owner organisation. Lists for the public go through
:func:`published_on` (published and valid on the London date).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeAlias

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Row,
    Select,
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    false,
    func,
    not_,
    or_,
    select,
    true,
    tuple_,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, INT4MULTIRANGE, Range
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Offer as OfferRow
from app.models import OfferLocation, Organisation, Profile, Referral
from app.offers import matching
from app.vocabulary import OCCUPYING_REFERRAL_STATUSES as OCCUPYING

ANYONE = "*"

EARTH_RADIUS_KM = 6371.0088

# Rows and statements of any columns (SQLAlchemy's types are variadic).
AnyRow: TypeAlias = "Row[*tuple[Any, ...]]"
AnySelect: TypeAlias = "Select[*tuple[Any, ...]]"

_offers = OfferRow.__table__.c
_referrals = Referral.__table__.c
_locations = OfferLocation.__table__.c
_organisations = Organisation.__table__.c


def _const(value: Any) -> ColumnElement[Any]:
    """A value rendered into the statement (not a parameter): the partial indexes'
    ``status = 'published'`` must be provable from the statement whatever plan is used."""
    return bindparam(None, value, literal_execute=True)


def _keys(values: Sequence[str]) -> ColumnElement[Any]:
    return bindparam(None, list(values), type_=ARRAY(Text))


def _meets(keys: ColumnElement[Any], values: Sequence[str]) -> ColumnElement[bool]:
    """The key column holds one of ``values`` (``keys && values``, on its GIN index)."""
    met: ColumnElement[bool] = type_coerce(keys, ARRAY(Text)).overlap(_keys(values))
    return met


def _week(spans: Sequence[tuple[int, int]]) -> ColumnElement[Any]:
    """Week-minute spans as one ``int4multirange`` parameter."""
    return bindparam(None, [Range(lo, hi) for lo, hi in spans], type_=INT4MULTIRANGE)


def published_on(today: date) -> ColumnElement[bool]:
    """Published and valid on ``today`` (the London date): what the public may see and match."""
    return and_(
        _offers.status == _const("published"),
        or_(_offers.valid_from.is_(None), _offers.valid_from <= today),
        or_(_offers.valid_until.is_(None), _offers.valid_until >= today),
    )


def is_full() -> ColumnElement[bool]:
    """``full`` in SQL: capacity taken up by referrals in accepted or in_progress (the rule
    of ``service.is_full``; only offers with a capacity count their referrals)."""
    taken = (
        select(func.count())
        .where(_referrals.offer_id == _offers.id, _referrals.status.in_(sorted(OCCUPYING)))
        .scalar_subquery()
    )
    return and_(_offers.capacity.is_not(None), taken >= _offers.capacity)


def eligible_to(leaver: matching.Leaver) -> ColumnElement[bool]:
    """``matching.ineligibility`` as an SQL condition over the offer's key columns.

    It is the same rule (``tests/api/test_offers_matching_sql.py`` holds the two equal over
    a grid of offers and leavers), and ``matching`` still applies its own. Keys hold
    ``ANYONE`` for "no restriction".
    """
    clauses = [
        _meets(_offers.gender_keys, [ANYONE, *([leaver.gender] if leaver.gender else [])]),
        _meets(_offers.cohort_keys, [ANYONE, *sorted(leaver.cohorts)]),
    ]
    if leaver.age is None:  # no date of birth: only offers without age limits
        clauses += [_offers.min_age.is_(None), _offers.max_age.is_(None)]
    else:
        clauses += [
            or_(_offers.min_age.is_(None), _offers.min_age <= leaver.age),
            or_(_offers.max_age.is_(None), _offers.max_age >= leaver.age),
        ]
    # Unknown connections: listed, with a "you may need a local connection" reason.
    if leaver.local_connections is not None:
        clauses.append(
            or_(
                not_(_offers.requires_local_connection),
                _meets(_offers.area_keys, sorted(leaver.local_connections)),
            )
        )
    return and_(*clauses)


# --- release-day matching: the candidates -------------------------------------------


@dataclass(frozen=True)
class FirstOrdering:
    """The §4 order as far as the offer's row can tell it, best first (built by
    ``service.first_ordering``):

    (1) may open within the window: the weekly hours meet ``window``, the wall-clock week
    minutes of [R, R + window] (necessary, not sufficient); (2) not full (exact); (3) the
    need level of the category's pathway (exact; ``tiers`` groups the categories by need,
    highest first, ``need`` maps each category with a need to its level); (4) an opening
    "bucket": the first of ``buckets`` (the week minutes of R + 1 h, 2 h, 4 h, … within the
    window, each containing the one before) that the hours meet, ``len(buckets)`` when none
    (a lower bound of ``next_open_at``); then newest first.
    """

    window: list[tuple[int, int]]
    buckets: list[list[tuple[int, int]]]
    tiers: list[list[str]]
    need: dict[str, int]


def _in_bucket(order: FirstOrdering, i: int) -> ColumnElement[bool]:
    """The hours meet bucket ``i`` and none before it (bucket ``len(buckets)``: the window)."""
    meets = order.buckets[i] if i < len(order.buckets) else order.window
    clause: ColumnElement[bool] = _offers.week_hours.overlaps(_week(meets))
    if i > 0:
        clause = and_(clause, not_(_offers.week_hours.overlaps(_week(order.buckets[i - 1]))))
    return clause


def _by_bucket(order: FirstOrdering) -> list[ColumnElement[Any]]:
    """ORDER BY terms for the bucket (none when the window has a single bucket: a constant
    would be read as a column position)."""
    if not order.buckets:
        return []
    return [
        case(
            *((_offers.week_hours.overlaps(_week(b)), i) for i, b in enumerate(order.buckets)),
            else_=len(order.buckets),
        )
    ]


def _soon(order: FirstOrdering) -> ColumnElement[bool]:
    soon: ColumnElement[bool] = _offers.week_hours.overlaps(_week(order.window))
    return soon


_NEWEST = (_offers.created_at.desc(), _offers.id.desc())


def _newest_in(categories: Sequence[str], where: ColumnElement[bool], limit: int) -> AnySelect:
    """The newest ``limit`` offers of ``categories`` meeting ``where``: one walk down
    ``ix_offers_published_matching`` per category (merged by created_at), each stopping
    once it has ``limit`` rows."""
    walks = [
        select(_offers.id, _offers.created_at)
        .where(_offers.category == _const(category), where)
        .order_by(*_NEWEST)
        .limit(limit)
        for category in categories
    ]
    if len(walks) == 1:
        return walks[0].with_only_columns(_offers.id)
    merged = union_all(*walks).subquery("walks")
    return select(merged.c.id).order_by(merged.c.created_at.desc(), merged.c.id.desc()).limit(limit)


def first_tier_walk(
    leaver: matching.Leaver, order: FirstOrdering, cap: int, today: date
) -> AnySelect:
    """The first statement :func:`match_candidates` runs (for the benchmark's EXPLAIN)."""
    where = and_(published_on(today), eligible_to(leaver), _in_bucket(order, 0), not_(is_full()))
    return _newest_in(order.tiers[0], where, cap)


async def match_candidates(
    session: AsyncSession,
    leaver: matching.Leaver,
    order: FirstOrdering,
    cap: int,
    today: date,
) -> list[uuid.UUID]:
    """The first ``cap`` eligible offers in the first ordering (:class:`FirstOrdering`).

    The first ordering puts every offer that may open within the window and is not full
    (a "first" offer) before the others, and among those the higher need first, then the
    earlier bucket, then the newest. So it is read in that order, a need tier at a time:
    the tier's offers in bucket 0 are the newest-first walk down the category index,
    stopped after as many as are still wanted (a few hundred index entries, not the
    tier's thousands); only when bucket 0 runs short are the tier's other buckets sorted.
    Once every tier is read, the offers that are not "first" follow, in the full first
    ordering (a catalogue where few offers may open in the window).
    """
    base = and_(published_on(today), eligible_to(leaver))
    not_full = not_(is_full())
    chosen: list[uuid.UUID] = []
    for tier in order.tiers:
        walk = _newest_in(tier, and_(base, _in_bucket(order, 0), not_full), cap - len(chosen))
        chosen += await session.scalars(walk)
        if len(chosen) >= cap or not order.buckets:
            if len(chosen) >= cap:
                return chosen[:cap]
            continue
        # Bucket 0 held too few: the tier's later buckets, in order (one sort of the tier).
        later = and_(base, _soon(order), not_(_in_bucket(order, 0)), not_full)
        chosen += await session.scalars(
            select(_offers.id)
            .where(_offers.category.in_(tier), later)
            .order_by(*_by_bucket(order), *_NEWEST)
            .limit(cap - len(chosen))
        )
        if len(chosen) >= cap:
            return chosen[:cap]
    # Every "first" offer is chosen: the rest in the first ordering.
    soon, full = _soon(order), is_full()
    by_need = (
        [case(*((_offers.category == c, level) for c, level in order.need.items()), else_=0).desc()]
        if order.need
        else []
    )
    rest = await session.scalars(
        select(_offers.id)
        .where(base, not_(and_(soon, not_(full))))
        .order_by(soon.desc(), full, *by_need, *_by_bucket(order), *_NEWEST)
        .limit(cap - len(chosen))
    )
    return chosen + list(rest)


# --- reading offers ------------------------------------------------------------------

# What an offer in its API shape is built from (``service._to_offer``).
_COLUMNS = (
    _offers.id,
    _offers.organisation_id,
    _organisations.name.label("organisation_name"),
    _offers.status,
    _offers.body,
    _offers.version,
    _offers.capacity,
    _offers.created_at,
    _offers.updated_at,
)
_WITH_ORGANISATION = OfferRow.__table__.join(
    Organisation.__table__, _organisations.id == _offers.organisation_id
)


def _offer_rows(*extra: ColumnElement[Any]) -> AnySelect:
    return select(*_COLUMNS, *extra).select_from(_WITH_ORGANISATION)


def visible_to(viewer_org: uuid.UUID | None) -> ColumnElement[bool]:
    """The choke point: the offers ``viewer_org`` may see (published ones, and every offer
    of its own; no organisation: published only). Everything else is 404."""
    published = _offers.status == _const("published")
    if viewer_org is None:
        return published
    return or_(published, _offers.organisation_id == viewer_org)


async def visible_offer(
    session: AsyncSession, offer_id: uuid.UUID, viewer_org: uuid.UUID | None
) -> AnyRow | None:
    """The offer row if the viewer may see it (:func:`visible_to`), else None."""
    statement = _offer_rows().where(_offers.id == offer_id, visible_to(viewer_org))
    row: AnyRow | None = (await session.execute(statement)).one_or_none()
    return row


async def owned_for_update(
    session: AsyncSession, offer_id: uuid.UUID, org_id: uuid.UUID
) -> OfferRow | None:
    """The organisation's own offer, locked for a write (None when it is not theirs)."""
    statement = (
        select(OfferRow)
        .where(OfferRow.id == offer_id, OfferRow.organisation_id == org_id)
        .with_for_update()
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def active_referral_counts(
    session: AsyncSession, offer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Referrals in ``accepted`` or ``in_progress`` per offer (offers with none are absent):
    one grouped count for a whole page, on ``ix_referrals_offer_status``."""
    if not offer_ids:
        return {}
    rows = await session.execute(
        select(_referrals.offer_id, func.count())
        .where(_referrals.offer_id.in_(offer_ids), _referrals.status.in_(sorted(OCCUPYING)))
        .group_by(_referrals.offer_id)
    )
    return {offer_id: count for offer_id, count in rows}  # noqa: C416 (rows, not pairs)


async def profile_data(session: AsyncSession, profile_id: uuid.UUID) -> dict[str, Any] | None:
    data: dict[str, Any] | None = (
        await session.execute(select(Profile.data).where(Profile.id == profile_id))
    ).scalar_one_or_none()
    return data


# --- writing -------------------------------------------------------------------------


async def insert_offer(session: AsyncSession, row: OfferRow, places: list[OfferLocation]) -> None:
    session.add(row)
    await session.flush()
    session.add_all(places)
    await session.flush()


async def replace_offer(
    session: AsyncSession,
    offer_id: uuid.UUID,
    values: dict[str, Any],
    places: list[OfferLocation],
) -> None:
    """The offer's columns and locations replaced (its row already locked by the caller)."""
    await session.execute(delete(OfferLocation).where(OfferLocation.offer_id == offer_id))
    await session.execute(update(OfferRow).where(OfferRow.id == offer_id).values(**values))
    session.add_all(places)
    await session.flush()


async def update_offer(session: AsyncSession, offer_id: uuid.UUID, values: dict[str, Any]) -> None:
    await session.execute(update(OfferRow).where(OfferRow.id == offer_id).values(**values))
    await session.flush()


# --- the public catalogue ------------------------------------------------------------


def text_search(typed_safe: str) -> ColumnElement[bool]:
    """The offer matches ``typed_safe`` (already made safe by ``service.web_search``; an
    empty search matches nothing)."""
    if not typed_safe:
        return false()
    return _offers.search_vector.bool_op("@@")(
        func.websearch_to_tsquery(_const("english"), bindparam(None, typed_safe, type_=Text))
    )


@dataclass(frozen=True)
class CatalogueFilter:
    """The catalogue's filters, already checked (``service.CatalogueQuery``)."""

    today: date
    category: str | None = None
    area: str | None = None
    cohort: str | None = None
    gender: str | None = None
    age: int | None = None
    meet_at_gate: bool | None = None
    week_minute: int | None = None
    q: str | None = None
    near: tuple[float, float] | None = None
    radius_km: float = 25.0
    limit: int = 20
    after_created: tuple[datetime, uuid.UUID] | None = None
    after_distance: tuple[float, uuid.UUID] | None = None
    organisation_id: uuid.UUID | None = None
    # True when the caller is that organisation with offers:write: every status, any dates.
    owner: bool = False


def _bbox(lat: float, lon: float, radius_km: float) -> tuple[float, float, float, float]:
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    cos_lat = max(math.cos(math.radians(lat)), 1e-6)
    dlon = min(180.0, math.degrees(radius_km / (EARTH_RADIUS_KM * cos_lat)))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


def _number(value: float) -> ColumnElement[float]:
    return bindparam(None, value, type_=Float)


def _haversine_km(lat: float, lon: float) -> ColumnElement[float]:
    """Great-circle kilometres from (lat, lon) to the location row."""
    dlat = func.radians(_locations.latitude - _number(lat)) / 2
    dlon = func.radians(_locations.longitude - _number(lon)) / 2
    inner = func.power(func.sin(dlat), 2) + func.cos(func.radians(_number(lat))) * func.cos(
        func.radians(_locations.latitude)
    ) * func.power(func.sin(dlon), 2)
    return 2 * _number(EARTH_RADIUS_KM) * func.asin(func.sqrt(inner))


def catalogue_statement(f: CatalogueFilter) -> AnySelect:
    """The catalogue statement (the benchmark EXPLAINs exactly this), asking for
    ``limit + 1`` rows; with ``near`` the rows carry ``distance_km``."""
    where: list[ColumnElement[bool]]
    if f.owner and f.organisation_id is not None:
        # The owner's own list: drafts, paused, withdrawn and out-of-date offers too.
        where = [_offers.organisation_id == f.organisation_id]
    else:
        where = [published_on(f.today)]
        if f.organisation_id is not None:
            where.append(_offers.organisation_id == f.organisation_id)
    if f.category and f.area:
        # Both at once (the pair implies the category): one lookup in the small
        # "category|area" GIN index instead of intersecting two large ones.
        pairs = [f"{f.category}|{a}" for a in (f.area, ANYONE)]
        where.append(_meets(_offers.category_area_keys, pairs))
    elif f.category:
        where.append(_offers.category == f.category)
    elif f.area:
        where.append(_meets(_offers.area_keys, [f.area, ANYONE]))
    if f.cohort:
        where.append(_meets(_offers.cohort_keys, [f.cohort, ANYONE]))
    if f.gender:
        where.append(_meets(_offers.gender_keys, [f.gender, ANYONE]))
    if f.age is not None:
        where.append(or_(_offers.min_age.is_(None), _offers.min_age <= f.age))
        where.append(or_(_offers.max_age.is_(None), _offers.max_age >= f.age))
    if f.meet_at_gate is not None:
        where.append(_offers.meet_at_gate == f.meet_at_gate)
    if f.week_minute is not None:
        # One in-row test (always-open offers hold the whole week): no subquery to plan.
        where.append(_offers.week_hours.contains(bindparam(None, f.week_minute, type_=Integer)))
    if f.q is not None:
        where.append(text_search(f.q))
    if f.near is None:
        statement = _offer_rows().where(*where)
        if f.after_created is not None:
            where_after = tuple_(_offers.created_at, _offers.id) < tuple_(*f.after_created)
            statement = statement.where(where_after)
        return statement.order_by(*_NEWEST).limit(f.limit + 1)
    lat, lon = f.near
    lat_min, lat_max, lon_min, lon_max = _bbox(lat, lon, f.radius_km)
    box = and_(
        _locations.latitude.between(_number(lat_min), _number(lat_max)),
        _locations.longitude.between(_number(lon_min), _number(lon_max)),
    )
    # The bounding box (on the lat/lon index) first, the exact great-circle distance after.
    where.append(_offers.id.in_(select(_locations.offer_id).where(box)))
    nearest = (
        select(func.min(_haversine_km(lat, lon)).label("distance_km"))
        .where(_locations.offer_id == _offers.id, box)
        .lateral("d")
    )
    statement = (
        select(*_COLUMNS, nearest.c.distance_km)
        .select_from(_WITH_ORGANISATION.join(nearest, true()))
        .where(*where, nearest.c.distance_km <= _number(f.radius_km))
    )
    if f.after_distance is not None:
        distance, last_id = f.after_distance
        statement = statement.where(
            tuple_(nearest.c.distance_km, _offers.id) > tuple_(_number(distance), last_id)
        )
    return statement.order_by(nearest.c.distance_km, _offers.id).limit(f.limit + 1)


async def catalogue(session: AsyncSession, f: CatalogueFilter) -> list[AnyRow]:
    return list((await session.execute(catalogue_statement(f))).all())


# --- release-day matching: rows and exclusions ---------------------------------------


async def matched_rows(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[AnyRow]:
    """The candidates' whole rows with ``full``, read once (one snapshot: what is ranked is
    what is shown)."""
    statement = _offer_rows(is_full().label("full")).where(_offers.id.in_(list(ids)))
    return list((await session.execute(statement)).all())


async def excluded_rows(
    session: AsyncSession,
    leaver: matching.Leaver,
    needed: Sequence[str],
    today: date,
    limit: int,
) -> list[AnyRow]:
    """Published offers valid today in the ``needed`` categories the leaver is not
    eligible for, in the order of ``needed``, then title."""
    statement = (
        select(
            _offers.id,
            _offers.category,
            _offers.body["title"].label("title"),
            _offers.body["eligibility"].label("eligibility"),
        )
        .where(
            published_on(today),
            _offers.category.in_(list(needed)),
            not_(eligible_to(leaver)),
        )
        .order_by(
            func.array_position(_keys(needed), cast(_offers.category, Text)),
            _offers.body["title"].astext,
            _offers.id,
        )
        .limit(limit)
    )
    return list((await session.execute(statement)).all())


# --- Open Referral -------------------------------------------------------------------


async def published_page(
    session: AsyncSession,
    *,
    today: date,
    search: str | None,
    organisation_id: uuid.UUID | None,
    modified_after: datetime | None,
    offset: int,
    limit: int,
) -> tuple[list[AnyRow], int]:
    """Published offers valid today, oldest first (a stable order for harvesting), and
    how many there are in all."""
    where = [published_on(today)]
    if search is not None:
        where.append(text_search(search))
    if organisation_id is not None:
        where.append(_offers.organisation_id == organisation_id)
    if modified_after is not None:
        where.append(_offers.updated_at > modified_after)
    counted = select(func.count()).select_from(OfferRow.__table__).where(*where)
    total = (await session.execute(counted)).scalar_one()
    rows = await session.execute(
        _offer_rows()
        .where(*where)
        .order_by(_offers.created_at, _offers.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows.all()), int(total)
