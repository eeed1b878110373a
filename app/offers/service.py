"""Publishing, reading, searching and matching offers.

One writer keeps an offer's denormalised columns, periods and locations in step with its
``body``. Who may see an offer is decided in one place, :func:`_visible`: published
offers are public; any other status only to the owner organisation; everything else is
404, exactly as if it did not exist.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import london_today
from app.consent.schemas import OrganisationRef
from app.errors import NotFound
from app.etags import parse_if_match, require_if_match
from app.models import Offer as OfferRow
from app.models import OfferLocation, Profile, Referral
from app.offers import matching
from app.offers.schedule import DAYS, MINUTES_PER_DAY, london_day_minute, parse_hhmm
from app.offers.schedule import week_spans as schedule_spans
from app.offers.schemas import (
    CATEGORIES,
    Offer,
    OfferCreate,
    OfferExclusion,
    OfferMatch,
    OfferRef,
)
from app.pagination import decode_cursor, encode_cursor, page_of
from app.vocabulary import OCCUPYING_REFERRAL_STATUSES as OCCUPYING

EARTH_RADIUS_KM = 6371.0088
ANYONE = "*"


# --- full-text search: what the caller typed, made safe for websearch_to_tsquery --------

# Bounds on a search: PostgreSQL's query parser keeps operators on a fixed stack (32
# deep), so a run of negations ("-" × 33) fails inside the server. A search is rebuilt
# from at most this many terms, each a plain word (letters and digits, inner hyphens
# kept), a quoted phrase of words, or "or"; a word carries at most one "-" (not).
MAX_SEARCH_TERMS = 12
MAX_TERM_CHARS = 64
_SEARCH_TOKEN = re.compile(r'"([^"]*)"?|(-*)([^\s"]+)')
_WORD = re.compile(r"\w+")


def web_search(typed: str) -> str:
    """``typed`` in the web-search syntax the catalogue documents (``"exact phrase"``,
    ``-not``, ``or``), rebuilt so that ``websearch_to_tsquery`` cannot fail on it: only
    words, phrases and operators survive, bounded in number and length. An empty answer
    means nothing searchable was typed (the search then matches nothing)."""
    terms: list[str] = []
    for phrase, negations, raw in _SEARCH_TOKEN.findall(typed):
        if len(terms) == MAX_SEARCH_TERMS:
            break
        if phrase or not raw:
            words = [w[:MAX_TERM_CHARS] for w in _WORD.findall(phrase)][:MAX_SEARCH_TERMS]
            if words:
                terms.append('"' + " ".join(words) + '"')
        elif raw.lower() == "or" and not negations:
            if terms and terms[-1] != "or":
                terms.append("or")
        else:
            word = "-".join(_WORD.findall(raw))[:MAX_TERM_CHARS].strip("-")
            if word:
                terms.append(("-" if negations else "") + word)
    while terms and terms[-1] == "or":
        terms.pop()
    return " ".join(terms)


def _text_search(where: list[str], params: dict[str, Any], name: str, typed: str) -> None:
    """Add the condition "the offer matches the search ``typed``" as parameter ``name``."""
    safe = web_search(typed)
    if not safe:
        where.append("FALSE")
        return
    where.append(f"o.search_vector @@ websearch_to_tsquery('english', :{name})")
    params[name] = safe


# --- capacity: the seam for referrals -------------------------------------------------


def is_full(capacity: int | None, active_referrals: int) -> bool:
    """Whether ``capacity`` (when set) is taken up by referrals in accepted/in_progress."""
    return capacity is not None and active_referrals >= capacity


async def active_referral_counts(
    session: AsyncSession, offer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Referrals in ``accepted`` or ``in_progress`` per offer (offers with none are absent):
    one grouped count for a whole page, on ``ix_referrals_offer_status``."""
    if not offer_ids:
        return {}
    rows = await session.execute(
        select(Referral.offer_id, func.count())
        .where(Referral.offer_id.in_(offer_ids), Referral.status.in_(sorted(OCCUPYING)))
        .group_by(Referral.offer_id)
    )
    return dict(rows.all())


# --- reading rows into the API shape --------------------------------------------------

_COLUMNS = (
    "o.id, o.organisation_id, org.name AS organisation_name, o.status, o.body, o.version, "
    "o.capacity, o.created_at, o.updated_at"
)


def _to_offer(row: Any, active: int = 0, *, full: bool | None = None) -> Offer:
    body = dict(row.body)
    body.pop("status", None)
    return Offer.model_validate(
        {
            **body,
            "id": row.id,
            "organisation": OrganisationRef(id=row.organisation_id, name=row.organisation_name),
            "status": row.status,
            "capacity": row.capacity,
            "full": is_full(row.capacity, active) if full is None else full,
            "version": row.version,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


async def _offers_from_rows(session: AsyncSession, rows: Sequence[Any]) -> list[Offer]:
    counts = await active_referral_counts(session, [r.id for r in rows])
    return [_to_offer(r, counts.get(r.id, 0)) for r in rows]


# --- the choke point: who may see which offer -----------------------------------------


async def _visible(session: AsyncSession, offer_id: uuid.UUID, viewer_org: uuid.UUID | None) -> Any:
    """The offer row if the viewer may see it: published, or owned by the viewer's org."""
    row = (
        await session.execute(
            text(
                f"SELECT {_COLUMNS} FROM offers o "  # noqa: S608 (constant column list)
                "JOIN organisations org ON org.id = o.organisation_id "
                "WHERE o.id = :id AND (o.status = 'published' OR o.organisation_id = :org)"
            ),
            {"id": offer_id, "org": viewer_org},
        )
    ).one_or_none()
    if row is None:
        raise NotFound("No such offer")
    return row


async def _owned_for_update(
    session: AsyncSession, offer_id: uuid.UUID, org_id: uuid.UUID
) -> OfferRow:
    row = (
        await session.execute(
            select(OfferRow)
            .where(OfferRow.id == offer_id, OfferRow.organisation_id == org_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("No such offer")
    return row


async def get_offer(
    session: AsyncSession, offer_id: uuid.UUID, viewer_org: uuid.UUID | None
) -> Offer:
    return (await _offers_from_rows(session, [await _visible(session, offer_id, viewer_org)]))[0]


# --- writing --------------------------------------------------------------------------


def _keys(values: Sequence[str]) -> list[str]:
    return list(values) or [ANYONE]


def _columns(body: OfferCreate) -> dict[str, Any]:
    rules = body.eligibility
    return {
        "status": body.status,
        "category": body.category,
        "body": body.model_dump(mode="json", exclude={"status"}),
        "area_keys": _keys(rules.areas),
        "category_area_keys": [f"{body.category}|{a}" for a in _keys(rules.areas)],
        "cohort_keys": _keys(rules.cohorts),
        "gender_keys": _keys(rules.genders),
        "min_age": rules.min_age,
        "max_age": rules.max_age,
        "requires_local_connection": rules.requires_local_connection,
        "meet_at_gate": body.delivery.meet_at_gate,
        "always_open": body.schedule.always_open,
        "week_hours": week_hours(body),
        "valid_from": body.valid_from,
        "valid_until": body.valid_until,
        "capacity": body.capacity,
    }


WEEK_MINUTES = 7 * MINUTES_PER_DAY


def week_hours(body: OfferCreate) -> list[Range[int]]:
    """The opening hours as ranges of minutes of the London wall-clock week."""
    if body.schedule.always_open:
        return [Range(0, WEEK_MINUTES)]
    spans = sorted(
        (
            DAYS.index(p.day) * MINUTES_PER_DAY + parse_hhmm(p.opens),
            DAYS.index(p.day) * MINUTES_PER_DAY + parse_hhmm(p.closes),
        )
        for p in body.schedule.weekly
    )
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [Range(start, end) for start, end in merged]


def _locations(offer_id: uuid.UUID, body: OfferCreate) -> list[OfferLocation]:
    return [
        OfferLocation(offer_id=offer_id, position=i, latitude=loc.latitude, longitude=loc.longitude)
        for i, loc in enumerate(body.locations)
    ]


async def create_offer(
    session: AsyncSession,
    org_id: uuid.UUID,
    body: OfferCreate,
    *,
    offer_id: uuid.UUID | None = None,
) -> Offer:
    now = datetime.now(UTC)
    row = OfferRow(
        id=offer_id or uuid.uuid4(),
        organisation_id=org_id,
        created_at=now,
        updated_at=now,
        **_columns(body),
    )
    session.add(row)
    await session.flush()
    session.add_all(_locations(row.id, body))
    await session.flush()
    return await get_offer(session, row.id, org_id)


_CHANGED = "The offer has changed; fetch it again"


async def replace_offer(
    session: AsyncSession,
    org_id: uuid.UUID,
    offer_id: uuid.UUID,
    body: OfferCreate,
    if_match: str | None,
) -> Offer:
    expected = require_if_match(if_match, "Send If-Match with the offer's ETag")
    row = await _owned_for_update(session, offer_id, org_id)
    expected.check(row.version, _CHANGED)
    await session.execute(delete(OfferLocation).where(OfferLocation.offer_id == offer_id))
    await session.execute(
        update(OfferRow)
        .where(OfferRow.id == offer_id)
        .values(**_columns(body), version=row.version + 1, updated_at=datetime.now(UTC))
    )
    session.add_all(_locations(offer_id, body))
    await session.flush()
    session.expire(row)
    return await get_offer(session, offer_id, org_id)


async def withdraw_offer(
    session: AsyncSession, org_id: uuid.UUID, offer_id: uuid.UUID, if_match: str | None
) -> None:
    """Withdraw (idempotent). ``If-Match`` is optional here; a stale one is still 412."""
    expected = parse_if_match(if_match)
    row = await _owned_for_update(session, offer_id, org_id)
    if expected is not None:
        expected.check(row.version, _CHANGED)
    if row.status == "withdrawn":
        return
    await session.execute(
        update(OfferRow)
        .where(OfferRow.id == offer_id)
        .values(status="withdrawn", version=row.version + 1, updated_at=datetime.now(UTC))
    )
    await session.flush()


# --- the public catalogue -------------------------------------------------------------


@dataclass(frozen=True)
class CatalogueQuery:
    category: str | None = None
    area: str | None = None
    cohort: str | None = None
    gender: str | None = None
    age: int | None = None
    meet_at_gate: bool | None = None
    open_at: datetime | None = None
    q: str | None = None
    near: tuple[float, float] | None = None
    radius_km: float = 25.0
    limit: int = 20
    cursor: str | None = None
    organisation_id: uuid.UUID | None = None
    # True when the caller is that organisation with offers:write: every status, any dates.
    owner: bool = False


def _bbox(lat: float, lon: float, radius_km: float) -> tuple[float, float, float, float]:
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    cos_lat = max(math.cos(math.radians(lat)), 1e-6)
    dlon = min(180.0, math.degrees(radius_km / (EARTH_RADIUS_KM * cos_lat)))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


_HAVERSINE = (
    "2 * :earth_km * asin(sqrt(power(sin(radians(l.latitude - :near_lat) / 2), 2) + "
    "cos(radians(:near_lat)) * cos(radians(l.latitude)) * "
    "power(sin(radians(l.longitude - :near_lon) / 2), 2)))"
)


# Published and valid on :today (the London date): what the public may see and match.
_PUBLISHED_TODAY = (
    "o.status = 'published'",
    "(o.valid_from IS NULL OR o.valid_from <= :today)",
    "(o.valid_until IS NULL OR o.valid_until >= :today)",
)


def catalogue_sql(query: CatalogueQuery, today: date) -> tuple[str, dict[str, Any]]:
    """The catalogue statement and its parameters (the benchmark EXPLAINs exactly this)."""
    if query.owner and query.organisation_id is not None:
        # The owner's own list: drafts, paused, withdrawn and out-of-date offers too.
        where = ["o.organisation_id = :organisation_id"]
        params: dict[str, Any] = {"limit": query.limit + 1}
    else:
        where = [*_PUBLISHED_TODAY]
        params = {"today": today, "limit": query.limit + 1}
    if query.organisation_id is not None:
        if not query.owner:
            where.append("o.organisation_id = :organisation_id")
        params["organisation_id"] = query.organisation_id
    if query.category and query.area:
        # Both at once (the pair implies the category): one lookup in the small
        # "category|area" GIN index instead of intersecting two large ones.
        where.append("o.category_area_keys && CAST(:category_area_keys AS text[])")
        params["category_area_keys"] = [f"{query.category}|{a}" for a in (query.area, ANYONE)]
    elif query.category:
        where.append("o.category = :category")
        params["category"] = query.category
    elif query.area:
        where.append("o.area_keys && CAST(:area_keys AS text[])")
        params["area_keys"] = [query.area, ANYONE]
    if query.cohort:
        where.append("o.cohort_keys && CAST(:cohort_keys AS text[])")
        params["cohort_keys"] = [query.cohort, ANYONE]
    if query.gender:
        where.append("o.gender_keys && CAST(:gender_keys AS text[])")
        params["gender_keys"] = [query.gender, ANYONE]
    if query.age is not None:
        where.append("(o.min_age IS NULL OR o.min_age <= :age)")
        where.append("(o.max_age IS NULL OR o.max_age >= :age)")
        params["age"] = query.age
    if query.meet_at_gate is not None:
        where.append("o.meet_at_gate = :meet_at_gate")
        params["meet_at_gate"] = query.meet_at_gate
    if query.open_at is not None:
        day, minute = london_day_minute(query.open_at)
        # One in-row test (always-open offers hold the whole week): no subquery to plan.
        where.append("o.week_hours @> CAST(:week_minute AS integer)")
        params["week_minute"] = day * MINUTES_PER_DAY + minute
    if query.q:
        _text_search(where, params, "q", query.q)
    select_list = _COLUMNS
    joins = "JOIN organisations org ON org.id = o.organisation_id"
    if query.near is not None:
        lat, lon = query.near
        lat_min, lat_max, lon_min, lon_max = _bbox(lat, lon, query.radius_km)
        params.update(
            near_lat=lat,
            near_lon=lon,
            earth_km=EARTH_RADIUS_KM,
            radius_km=query.radius_km,
            lat_min=lat_min,
            lat_max=lat_max,
            lon_min=lon_min,
            lon_max=lon_max,
        )
        box = (
            "l.latitude BETWEEN :lat_min AND :lat_max AND l.longitude BETWEEN :lon_min AND :lon_max"
        )
        # The bounding box (on the lat/lon index) first, the exact great-circle distance after.
        where.append(f"o.id IN (SELECT l.offer_id FROM offer_locations l WHERE {box})")  # noqa: S608
        joins += (
            f" CROSS JOIN LATERAL (SELECT min({_HAVERSINE}) AS distance_km "  # noqa: S608
            f"FROM offer_locations l WHERE l.offer_id = o.id AND {box}) d"
        )
        select_list += ", d.distance_km"
        where.append("d.distance_km <= :radius_km")
        order = "d.distance_km, o.id"
        if query.cursor:  # tagged "d": a cursor of the newest-first order is refused here
            _, distance, last_id = decode_cursor(query.cursor, "d", float, uuid.UUID)
            where.append("(d.distance_km, o.id) > (:cursor_distance, :cursor_id)")
            params.update(cursor_distance=distance, cursor_id=last_id)
    else:
        order = "o.created_at DESC, o.id DESC"
        if query.cursor:
            _, created, last_id = decode_cursor(query.cursor, "t", datetime, uuid.UUID)
            where.append("(o.created_at, o.id) < (:cursor_created, :cursor_id)")
            params.update(cursor_created=created, cursor_id=last_id)
    sql = (
        f"SELECT {select_list} FROM offers o {joins} "  # noqa: S608 (fixed fragments only)
        f"WHERE {' AND '.join(where)} ORDER BY {order} LIMIT :limit"
    )
    return sql, params


async def search_offers(
    session: AsyncSession, query: CatalogueQuery, now: datetime | None = None
) -> tuple[list[Offer], str | None]:
    sql, params = catalogue_sql(query, london_today(now))
    rows, next_cursor = page_of(
        (await session.execute(text(sql), params)).all(),
        query.limit,
        (lambda r: ("d", r.distance_km, r.id))
        if query.near is not None
        else (lambda r: ("t", r.created_at, r.id)),
    )
    return await _offers_from_rows(session, rows), next_cursor


# --- matching for a leaver ------------------------------------------------------------

# How many offers the full rules (``matching``) rank per request, beyond the page asked for:
# SQL picks them by a first ordering that is the §4 order as far as in-row columns can tell
# it (:func:`_first_ordering`); the full rules then add what SQL cannot see.
MATCH_CANDIDATES = 60
MATCH_CANDIDATE_CAP = 5000
# Opening "buckets" of the first ordering: open some time within R + this many hours.
_BUCKET_HOURS = (1, 2, 4, 8, 16, 24, 48, 72, 120, 168)

# ``full`` in SQL: capacity taken up by referrals in accepted or in_progress (the same rule
# as :func:`is_full`; only offers with a capacity count their referrals).
_FULL_SQL = (
    "(o.capacity IS NOT NULL AND (SELECT count(*) FROM referrals r WHERE r.offer_id = o.id "
    "AND r.status = ANY(CAST(:m_occupying AS text[]))) >= o.capacity)"
)


def _eligible_to(leaver: matching.Leaver) -> tuple[str, dict[str, Any]]:
    """``matching.ineligibility`` as an SQL condition over the offer's key columns.

    It is the same rule (``tests/api/test_offers_matching_sql.py`` holds the two equal over
    a grid of offers and leavers), and ``matching`` still applies its own. Keys hold
    ``ANYONE`` for "no restriction" (:func:`_keys`).
    """
    where = [
        "o.gender_keys && CAST(:m_genders AS text[])",
        "o.cohort_keys && CAST(:m_cohorts AS text[])",
    ]
    params: dict[str, Any] = {
        "m_genders": [ANYONE, *([leaver.gender] if leaver.gender else [])],
        "m_cohorts": [ANYONE, *sorted(leaver.cohorts)],
    }
    if leaver.age is None:  # no date of birth: only offers without age limits
        where.append("o.min_age IS NULL AND o.max_age IS NULL")
    else:
        where.append("(o.min_age IS NULL OR o.min_age <= :m_age)")
        where.append("(o.max_age IS NULL OR o.max_age >= :m_age)")
        params["m_age"] = leaver.age
    # Unknown connections: listed, with a "you may need a local connection" reason.
    if leaver.local_connections is not None:
        where.append(
            "(NOT o.requires_local_connection OR o.area_keys && CAST(:m_connections AS text[]))"
        )
        params["m_connections"] = sorted(leaver.local_connections)
    return "(" + " AND ".join(where) + ")", params


# The window's multiranges are sent as text and parsed once, in a materialised CTE ``m``
# (a cast in the ORDER BY would parse them again for every row).
_AS_MULTIRANGE = "m.{}"


def _multirange(spans: list[tuple[int, int]]) -> str:
    return "{" + ",".join(f"[{lo},{hi})" for lo, hi in spans) + "}"


def _first_ordering(
    leaver: matching.Leaver, within_hours: int
) -> tuple[str, str, dict[str, Any], list[list[str]]]:
    """The §4 order as far as the offer's row can tell it, best first.

    (1) opening within the window: the weekly hours meet the window's wall-clock minutes
    (necessary, not sufficient: travel, the 30 minutes left, bank holidays and closures
    can only take an opening away); (2) not full (exact); (3) the need level of the
    category's pathway (exact); (4) an opening "bucket": the first of R + 1 h, 2 h, 4 h, …
    within which the hours meet the clock (a lower bound of ``next_open_at``); then newest.

    Answers the CTE of the window's multiranges, the ORDER BY, their parameters, and the
    need tiers: the categories grouped by need level, highest first.
    """
    release = leaver.release_at
    ranges = {"m_window": schedule_spans(release, release + timedelta(hours=within_hours))}
    params: dict[str, Any] = {"m_occupying": sorted(OCCUPYING)}
    levels: dict[int, list[str]] = {}
    need_cases = []
    for i, category in enumerate(CATEGORIES):
        pathway = matching.CATEGORY_PATHWAY.get(category)
        level = leaver.needs.get(pathway, 0) if pathway else 0
        levels.setdefault(level, []).append(category)
        if level:
            need_cases.append(f"WHEN :m_cat{i} THEN {int(level)}")
            params[f"m_cat{i}"] = category
    terms = [f"(o.week_hours && {_AS_MULTIRANGE.format('m_window')}) DESC", f"{_FULL_SQL} ASC"]
    # (A constant is left out: ORDER BY 0 would name a column by position.)
    if need_cases:
        terms.append(f"CASE o.category {' '.join(need_cases)} ELSE 0 END DESC")
    buckets = []
    for i, hours in enumerate(_BUCKET_HOURS):
        if hours >= within_hours:
            break
        buckets.append(f"WHEN o.week_hours && {_AS_MULTIRANGE.format(f'm_b{i}')} THEN {i}")
        ranges[f"m_b{i}"] = schedule_spans(release, release + timedelta(hours=hours))
    if buckets:
        terms.append(f"CASE {' '.join(buckets)} ELSE {len(buckets)} END ASC")
    terms += ["o.created_at DESC", "o.id DESC"]
    cte = "WITH m AS MATERIALIZED (SELECT {}) ".format(
        ", ".join(f"CAST(CAST(:{name} AS text) AS int4multirange) AS {name}" for name in ranges)
    )
    params.update({name: _multirange(spans) for name, spans in ranges.items()})
    tiers = [levels[level] for level in sorted(levels, reverse=True)]
    return cte, ", ".join(terms), params, tiers


async def _candidates(
    session: AsyncSession, leaver: matching.Leaver, within_hours: int, cap: int, today: date
) -> list[uuid.UUID]:
    """The first ``cap`` eligible offers in the first ordering (:func:`_first_ordering`).

    Taken one need tier at a time (the categories of the highest need first, each an
    index-only scan of a few categories): the first ordering puts every offer that may
    open within the window and is not full before the others, and among those the higher
    need first. So once the tiers so far hold ``cap`` such offers, they are the first
    ``cap`` of the whole ordering. Otherwise (few offers may open in the window) one
    statement over every category answers it.
    """
    eligible, params = _eligible_to(leaver)
    cte, order, order_params, tiers = _first_ordering(leaver, within_hours)
    params.update(order_params, today=today, m_cap=cap)
    published_today = " AND ".join(_PUBLISHED_TODAY)
    soon = f"(o.week_hours && {_AS_MULTIRANGE.format('m_window')})"

    async def ordered(categories: list[str] | None) -> list[Any]:
        where = f"{published_today} AND {eligible}"
        if categories is not None:
            where += " AND o.category = ANY(:m_tier)"
        statement = text(
            f"{cte}SELECT o.id, {soon} AND NOT {_FULL_SQL} AS first "  # noqa: S608
            f"FROM offers o CROSS JOIN m WHERE {where} ORDER BY {order} LIMIT :m_cap"
        )
        return list((await session.execute(statement, {**params, "m_tier": categories})).all())

    # The best plan depends on the values (which categories, how wide the window): a
    # generic plan of the prepared statement, which PostgreSQL may switch to after five
    # runs, scanned every offer (p95 ~220 ms at 100,000 offers instead of ~50 ms).
    await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    chosen: list[uuid.UUID] = []
    for categories in tiers:
        chosen += [row.id for row in await ordered(categories) if row.first]
        if len(chosen) >= cap:
            return chosen[:cap]
    return [row.id for row in await ordered(None)]


async def offers_for_leaver(
    session: AsyncSession,
    profile_id: uuid.UUID,
    *,
    within_hours: int,
    limit: int,
    cursor: str | None,
    now: datetime | None = None,
) -> tuple[list[OfferMatch], str | None]:
    """The leaver's eligible offers, ranked by the §4 rules (``app.offers.matching``).

    In SQL: the published offers valid today that the leaver is eligible for
    (:func:`_eligible_to`), in a first ordering (:func:`_first_ordering`), at most
    ``MATCH_CANDIDATES`` past the page asked for (capped). The full rules rank those; the
    page is cut by position with an opaque cursor.
    """
    now = now or datetime.now(UTC)
    profile = (
        await session.execute(select(Profile.data).where(Profile.id == profile_id))
    ).scalar_one_or_none()
    if profile is None:
        raise NotFound("No such profile")
    offset = 0
    if cursor:  # a position in the ranking, tagged "m"
        _, offset = decode_cursor(cursor, "m", int)
    leaver = matching.leaver_from_profile(profile, now)
    today = london_today(now)
    cap = min(MATCH_CANDIDATE_CAP, offset + limit + MATCH_CANDIDATES)
    ids = await _candidates(session, leaver, within_hours, cap, today)
    # The candidates' whole rows, read once: matching ranks their bodies, the page is built
    # from the same rows (one snapshot: what was ranked is what is shown).
    rows = (
        await session.execute(
            text(
                f"SELECT {_COLUMNS}, {_FULL_SQL} AS full FROM offers o "  # noqa: S608
                "JOIN organisations org ON org.id = o.organisation_id WHERE o.id = ANY(:ids)"
            ),
            {"ids": ids, "m_occupying": sorted(OCCUPYING)},
        )
    ).all()
    by_id = {str(row.id): row for row in rows}
    documents = [{**row.body, "id": str(row.id), "full": row.full} for row in rows]
    ranked = matching.match_offers(profile, documents, now, within_hours)
    page = ranked[offset : offset + limit]
    next_cursor = encode_cursor("m", offset + limit) if offset + limit < len(ranked) else None
    items = []
    for m in page:
        row = by_id[str(m.offer["id"])]
        items.append(
            OfferMatch(
                offer=_to_offer(row, full=row.full),
                score=m.score,
                reasons=m.reasons,
                next_open_at=m.next_open_at,
            )
        )
    return items, next_cursor


EXPLAIN_LIMIT = 20


async def excluded_for_leaver(
    session: AsyncSession, profile_id: uuid.UUID, *, now: datetime | None = None
) -> list[OfferExclusion]:
    """Up to 20 published offers in categories the leaver needs that they are not eligible
    for, each with why in plain words (``?explain=true``)."""
    now = now or datetime.now(UTC)
    profile = (
        await session.execute(select(Profile.data).where(Profile.id == profile_id))
    ).scalar_one_or_none()
    if profile is None:
        raise NotFound("No such profile")
    leaver = matching.leaver_from_profile(profile, now)
    needed = matching.needed_categories(leaver)
    if not needed:
        return []
    eligible, params = _eligible_to(leaver)
    published_today = " AND ".join(_PUBLISHED_TODAY)
    rows = (
        await session.execute(
            text(
                "SELECT o.id, o.category, o.body -> 'title' AS title, "  # noqa: S608
                "o.body -> 'eligibility' AS eligibility FROM offers o "
                f"WHERE {published_today} AND o.category = ANY(:m_needed) AND NOT {eligible} "
                "ORDER BY array_position(CAST(:m_needed AS text[]), CAST(o.category AS text)), "
                "o.body ->> 'title', o.id LIMIT :m_limit"
            ),
            {
                **params,
                "today": london_today(now),
                "m_needed": needed,
                "m_limit": EXPLAIN_LIMIT,
            },
        )
    ).all()
    documents = [
        {"id": str(r.id), "category": r.category, "title": r.title, "eligibility": r.eligibility}
        for r in rows
    ]
    return [
        OfferExclusion(
            offer=OfferRef(id=uuid.UUID(str(e.offer["id"])), title=str(e.offer["title"])),
            reasons=e.reasons,
        )
        for e in matching.explain_exclusions(profile, documents, now, EXPLAIN_LIMIT)
    ]


# --- Open Referral --------------------------------------------------------------------


async def published_page(
    session: AsyncSession,
    *,
    search: str | None,
    organization_id: uuid.UUID | None,
    modified_after: datetime | None,
    page: int,
    per_page: int,
    now: datetime | None = None,
) -> tuple[list[Offer], int]:
    """Published offers valid today, oldest first (a stable order for harvesting)."""
    where = [*_PUBLISHED_TODAY]
    params: dict[str, Any] = {"today": london_today(now)}
    if search:
        _text_search(where, params, "search", search)
    if organization_id is not None:
        where.append("o.organisation_id = :org")
        params["org"] = organization_id
    if modified_after is not None:
        where.append("o.updated_at > :modified_after")
        params["modified_after"] = modified_after
    clause = " AND ".join(where)
    total = (
        await session.execute(
            text(f"SELECT count(*) FROM offers o WHERE {clause}"),  # noqa: S608
            params,
        )
    ).scalar_one()
    rows = (
        await session.execute(
            text(
                f"SELECT {_COLUMNS} FROM offers o "  # noqa: S608 (fixed fragments only)
                "JOIN organisations org ON org.id = o.organisation_id "
                f"WHERE {clause} ORDER BY o.created_at, o.id LIMIT :limit OFFSET :offset"
            ),
            {**params, "limit": per_page, "offset": (page - 1) * per_page},
        )
    ).all()
    return await _offers_from_rows(session, rows), int(total)


async def published_offer(session: AsyncSession, offer_id: uuid.UUID) -> Offer:
    return await get_offer(session, offer_id, None)
