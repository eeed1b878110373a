"""Publishing, reading, searching and matching offers.

One writer keeps an offer's denormalised columns, periods and locations in step with its
``body``. Who may see an offer is decided in one place, ``repository.visible_to``:
published offers are public; any other status only to the owner organisation; everything
else is 404, exactly as if it did not exist. Every statement is in ``offers.repository``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import london_today
from app.consent.schemas import OrganisationRef
from app.errors import NotFound
from app.etags import parse_if_match, require_if_match
from app.models import Offer as OfferRow
from app.models import OfferLocation
from app.offers import matching, repository
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

ANYONE = repository.ANYONE


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


# --- capacity: the seam for referrals -------------------------------------------------


def is_full(capacity: int | None, active_referrals: int) -> bool:
    """Whether ``capacity`` (when set) is taken up by referrals in accepted/in_progress."""
    return capacity is not None and active_referrals >= capacity


active_referral_counts = repository.active_referral_counts


# --- reading rows into the API shape --------------------------------------------------


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
    row = await repository.visible_offer(session, offer_id, viewer_org)
    if row is None:
        raise NotFound("No such offer")
    return row


async def _owned_for_update(
    session: AsyncSession, offer_id: uuid.UUID, org_id: uuid.UUID
) -> OfferRow:
    row = await repository.owned_for_update(session, offer_id, org_id)
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
    await repository.insert_offer(session, row, _locations(row.id, body))
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
    await repository.replace_offer(
        session,
        offer_id,
        {**_columns(body), "version": row.version + 1, "updated_at": datetime.now(UTC)},
        _locations(offer_id, body),
    )
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
    await repository.update_offer(
        session,
        offer_id,
        {"status": "withdrawn", "version": row.version + 1, "updated_at": datetime.now(UTC)},
    )


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


def catalogue_filter(query: CatalogueQuery, today: date) -> repository.CatalogueFilter:
    """The query's filters as the repository takes them (the benchmark EXPLAINs the
    statement ``repository.catalogue_statement`` builds from exactly this)."""
    after_created = after_distance = None
    if query.cursor and query.near is not None:
        # Tagged "d": a cursor of the newest-first order is refused here, and back.
        _, distance, last_id = decode_cursor(query.cursor, "d", float, uuid.UUID)
        after_distance = (distance, last_id)
    elif query.cursor:
        _, created, last_id = decode_cursor(query.cursor, "t", datetime, uuid.UUID)
        after_created = (created, last_id)
    week_minute = None
    if query.open_at is not None:
        day, minute = london_day_minute(query.open_at)
        week_minute = day * MINUTES_PER_DAY + minute
    return repository.CatalogueFilter(
        today=today,
        category=query.category,
        area=query.area,
        cohort=query.cohort,
        gender=query.gender,
        age=query.age,
        meet_at_gate=query.meet_at_gate,
        week_minute=week_minute,
        q=web_search(query.q) if query.q else None,
        near=query.near,
        radius_km=query.radius_km,
        limit=query.limit,
        after_created=after_created,
        after_distance=after_distance,
        organisation_id=query.organisation_id,
        owner=query.owner,
    )


async def search_offers(
    session: AsyncSession, query: CatalogueQuery, now: datetime | None = None
) -> tuple[list[Offer], str | None]:
    rows, next_cursor = page_of(
        await repository.catalogue(session, catalogue_filter(query, london_today(now))),
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


def first_ordering(leaver: matching.Leaver, within_hours: int) -> repository.FirstOrdering:
    """The §4 order as far as the offer's row can tell it (:class:`repository.FirstOrdering`)
    for this leaver and window: the window's and the buckets' wall-clock week minutes, and
    the categories grouped by the need level of their pathway, highest first."""
    release = leaver.release_at
    levels: dict[int, list[str]] = {}
    need: dict[str, int] = {}
    for category in CATEGORIES:
        pathway = matching.CATEGORY_PATHWAY.get(category)
        level = leaver.needs.get(pathway, 0) if pathway else 0
        levels.setdefault(level, []).append(category)
        if level:
            need[category] = level
    buckets = [
        schedule_spans(release, release + timedelta(hours=hours))
        for hours in _BUCKET_HOURS
        if hours < within_hours
    ]
    return repository.FirstOrdering(
        window=schedule_spans(release, release + timedelta(hours=within_hours)),
        buckets=buckets,
        tiers=[levels[level] for level in sorted(levels, reverse=True)],
        need=need,
    )


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
    (``repository.eligible_to``), in a first ordering (:func:`first_ordering`), at most
    ``MATCH_CANDIDATES`` past the page asked for (capped). The full rules rank those; the
    page is cut by position with an opaque cursor.
    """
    now = now or datetime.now(UTC)
    profile = await repository.profile_data(session, profile_id)
    if profile is None:
        raise NotFound("No such profile")
    offset = 0
    if cursor:  # a position in the ranking, tagged "m"
        _, offset = decode_cursor(cursor, "m", int)
    leaver = matching.leaver_from_profile(profile, now)
    today = london_today(now)
    cap = min(MATCH_CANDIDATE_CAP, offset + limit + MATCH_CANDIDATES)
    ids = await repository.match_candidates(
        session, leaver, first_ordering(leaver, within_hours), cap, today
    )
    # The candidates' whole rows, read once: matching ranks their bodies, the page is built
    # from the same rows (one snapshot: what was ranked is what is shown).
    rows = await repository.matched_rows(session, ids)
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
    profile = await repository.profile_data(session, profile_id)
    if profile is None:
        raise NotFound("No such profile")
    leaver = matching.leaver_from_profile(profile, now)
    needed = matching.needed_categories(leaver)
    if not needed:
        return []
    rows = await repository.excluded_rows(session, leaver, needed, london_today(now), EXPLAIN_LIMIT)
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
    rows, total = await repository.published_page(
        session,
        today=london_today(now),
        search=web_search(search) if search else None,
        organisation_id=organization_id,
        modified_after=modified_after,
        offset=(page - 1) * per_page,
        limit=per_page,
    )
    return await _offers_from_rows(session, rows), total


async def published_offer(session: AsyncSession, offer_id: uuid.UUID) -> Offer:
    return await get_offer(session, offer_id, None)
