"""Which offers fit a leaver, and in what order (pure, no I/O): API.md §4, "Release-day
matching rules".

Input: the leaver's profile document (API.md §2), offers in their API shape (dicts with
``id``, ``title``, ``category``, ``eligibility``, ``delivery``, ``locations``, ``schedule``
and, when known, ``full``), the current instant and the window in hours. R, the moment
that matters, is ``release.expected_at`` (even when it is past) or, when unknown, now.

**Eligibility** (an offer is listed only if all hold):

* **gender**: an offer with no genders is for anyone; otherwise the leaver's
  ``identity.gender`` must be listed. An unknown gender matches only offers open to anyone.
* **age** at R, from ``identity.date_of_birth``: within ``min_age``/``max_age``. With no
  date of birth, only offers with no age limits are listed (we never guess an age).
* **cohorts**: an offer with cohorts is "for these cohorts": the leaver must belong to at
  least one. Derived from the profile: ``women`` (gender woman), ``young_adult`` (18–25 at
  R), ``short_sentence`` (``release.sentence_months`` < 12). ``veteran`` and
  ``care_experienced`` cannot be derived from the profile, so they never match.
* **local connection**: an offer with ``requires_local_connection`` is for people with a
  local connection to one of its areas. Known connections (``release.local_connections``;
  an empty list means "none") must meet its areas; when they are unknown (absent) the offer
  is listed with the reason "You may need a local connection to <area>". The release area
  is where the leaver goes, not a connection: it never stands in for one.

**When it can be reached**: arrival A = R + 30 minutes + the straight-line distance from
the release establishment's gate (``release.establishment_code``) to the offer's nearest
location at 30 km/h; with no known establishment, R + 30 minutes; A = R for an offer with
no location (phone, online). ``next_open_at`` is :func:`schedule.next_open_at` from A
(open, with 30 minutes left, not on a closed day).

**Order** (:func:`order_key`), in turn: (1) ``next_open_at`` within [R, R + window];
(2) not full; (3) the need level of the pathway the category serves (``wellbeing`` and
``practical`` serve none); (4) earlier ``next_open_at`` (none last); (5) for a leaver who
prefers a woman or a man as worker, offers whose ``worker_genders`` include it; (6) nearer
the release area's town (no location counts as nearest); (7) title; then id.

**Score**: the first four keys as points, so it never rises down the list: 1000 when soon,
100 when not full, 10 per need level, and up to 9 for how soon it opens.

**Reasons are true**: a need is named only when the category is that need's pathway; "Meets
you at the gate" only when the offer's ``gate_establishments`` include the leaver's
establishment and it is open at R.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from app.offers.places import LOCAL_AUTHORITIES, PRISONS, area_name, distance_km
from app.offers.schedule import (
    LONDON,
    Schedule,
    bank_holiday_name,
    is_open,
    next_open_at,
)

NEED_POINTS = {"high": 3, "medium": 2, "low": 1, "none": 0}
_LEVEL_WORDS = {3: "high", 2: "medium", 1: "low"}

PATHWAY_LABELS = {
    "accommodation": "accommodation",
    "attitudes_behaviour": "attitudes and behaviour",
    "children_families": "children and families",
    "drugs_alcohol": "drugs and alcohol",
    "education_work": "education and work",
    "finance_id": "money and ID",
    "health": "health",
}
# The pathway each category serves: its own name, or none (wellbeing, practical).
CATEGORY_PATHWAY: dict[str, str] = {p: p for p in PATHWAY_LABELS}
COHORT_LABELS = {
    "women": "For women",
    "young_adult": "For young adults (18 to 25)",
    "short_sentence": "For people who served a short sentence",
}
_COHORT_WHO = {
    "women": "women",
    "young_adult": "young adults (18 to 25)",
    "short_sentence": "people who served a short sentence (under 12 months)",
    "veteran": "veterans of the armed forces",
    "care_experienced": "people who grew up in care",
}
_GENDER_WHO = {
    "woman": "women",
    "man": "men",
    "non_binary": "non-binary people",
    "other": "people of another gender",
    "prefer_not_to_say": "people who prefer not to say their gender",
}

# Travel from the gate (API.md §4): a fixed half hour plus the straight line at 30 km/h.
TRAVEL_FIXED = timedelta(minutes=30)
TRAVEL_KM_PER_HOUR = 30.0

# What matching reads of an offer besides its id and ``full`` (offers.service fetches only
# these parts of the stored body).
OFFER_PARTS = ("title", "category", "eligibility", "schedule", "delivery", "locations")

_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Leaver:
    """What matching knows about a leaver, derived from the profile document."""

    release_at: datetime
    gender: str | None
    age: int | None
    area: str | None
    cohorts: frozenset[str]
    needs: Mapping[str, int] = field(default_factory=dict)
    establishment_code: str | None = None
    # None: unknown (the field is absent); an empty set: known, none.
    local_connections: frozenset[str] | None = None
    worker_gender: str | None = None


@dataclass(frozen=True, slots=True)
class Match:
    offer: Mapping[str, Any]
    score: float
    reasons: list[str]
    next_open_at: datetime | None
    # The parts of the order (API.md §4), kept so callers and tests can see why.
    soon: bool = False
    full: bool = False
    need: int = 0
    arrival_at: datetime | None = None
    preferred_worker: bool = False
    distance_km: float = 0.0


@dataclass(frozen=True, slots=True)
class Exclusion:
    """An offer the leaver is not eligible for, and why in plain words."""

    offer: Mapping[str, Any]
    reasons: list[str]


def _get(doc: Mapping[str, Any], section: str, leaf: str) -> Any:
    part = doc.get(section)
    return part.get(leaf) if isinstance(part, Mapping) else None


def _parse_instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


def _parse_date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def leaver_from_profile(profile: Mapping[str, Any], now: datetime) -> Leaver:
    release_at = _parse_instant(_get(profile, "release", "expected_at")) or now.astimezone(UTC)
    gender = _get(profile, "identity", "gender")
    gender = gender if isinstance(gender, str) else None
    born = _parse_date(_get(profile, "identity", "date_of_birth"))
    age = age_on(born, release_at.astimezone(LONDON).date()) if born else None
    area = _get(profile, "release", "area")
    sentence = _get(profile, "release", "sentence_months")
    cohorts: set[str] = set()
    if gender == "woman":
        cohorts.add("women")
    if age is not None and 18 <= age <= 25:
        cohorts.add("young_adult")
    if isinstance(sentence, int) and not isinstance(sentence, bool) and sentence < 12:
        cohorts.add("short_sentence")
    needs: dict[str, int] = {}
    raw_needs = profile.get("needs")
    if isinstance(raw_needs, Mapping):
        for pathway, need in raw_needs.items():
            level = need.get("level") if isinstance(need, Mapping) else None
            if isinstance(level, str) and level in NEED_POINTS:
                needs[pathway] = NEED_POINTS[level]
    code = _get(profile, "release", "establishment_code")
    connections = _get(profile, "release", "local_connections")
    worker = _get(profile, "preferences", "worker_gender")
    return Leaver(
        release_at=release_at,
        gender=gender,
        age=age,
        area=area if isinstance(area, str) else None,
        cohorts=frozenset(cohorts),
        needs=needs,
        establishment_code=code if isinstance(code, str) else None,
        local_connections=frozenset(c for c in connections if isinstance(c, str))
        if isinstance(connections, list)
        else None,
        worker_gender=worker if worker in ("woman", "man") else None,
    )


# --- eligibility ----------------------------------------------------------------------


def ineligibility(leaver: Leaver, offer: Mapping[str, Any]) -> str | None:
    """Why the leaver cannot use the offer (a short code), or None when they can."""
    rules: Mapping[str, Any] = offer.get("eligibility") or {}
    genders = rules.get("genders") or []
    if genders and leaver.gender not in genders:
        return "gender"
    min_age, max_age = rules.get("min_age"), rules.get("max_age")
    if min_age is not None or max_age is not None:
        if leaver.age is None:
            return "age unknown"
        if (min_age is not None and leaver.age < min_age) or (
            max_age is not None and leaver.age > max_age
        ):
            return "age"
    cohorts = rules.get("cohorts") or []
    if cohorts and not leaver.cohorts.intersection(cohorts):
        return "cohort"
    if (
        rules.get("requires_local_connection")
        and leaver.local_connections is not None
        and not leaver.local_connections.intersection(rules.get("areas") or [])
    ):
        return "local connection"
    return None


def _areas_words(codes: Sequence[str]) -> str:
    names = [area_name(c) for c in codes]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def exclusion_reasons(leaver: Leaver, offer: Mapping[str, Any]) -> list[str]:
    """Every eligibility rule the leaver does not meet, in plain words (empty: eligible)."""
    rules: Mapping[str, Any] = offer.get("eligibility") or {}
    reasons: list[str] = []
    genders = rules.get("genders") or []
    if genders and leaver.gender not in genders:
        who = " and ".join(_GENDER_WHO.get(g, g) for g in genders)
        suffix = "" if leaver.gender else " (your profile does not say your gender)"
        reasons.append(f"It is for {who} only{suffix}")
    min_age, max_age = rules.get("min_age"), rules.get("max_age")
    if min_age is not None or max_age is not None:
        if min_age is not None and max_age is not None:
            span = f"aged {min_age} to {max_age}"
        elif min_age is not None:
            span = f"aged {min_age} and over"
        else:
            span = f"aged up to {max_age}"
        if leaver.age is None:
            reasons.append(f"It is for people {span}; add your date of birth so we can check")
        elif (min_age is not None and leaver.age < min_age) or (
            max_age is not None and leaver.age > max_age
        ):
            reasons.append(f"It is for people {span}")
    cohorts = rules.get("cohorts") or []
    if cohorts and not leaver.cohorts.intersection(cohorts):
        reasons.append("It is for " + " or ".join(_COHORT_WHO.get(c, c) for c in cohorts))
    if (
        rules.get("requires_local_connection")
        and leaver.local_connections is not None
        and not leaver.local_connections.intersection(rules.get("areas") or [])
    ):
        reasons.append(
            "It is only for people with a local connection to "
            + _areas_words(rules.get("areas") or [])
        )
    return reasons


# --- when it can be reached -----------------------------------------------------------


def _locations(offer: Mapping[str, Any]) -> list[tuple[float, float]]:
    points = []
    for loc in offer.get("locations") or ():
        if isinstance(loc, Mapping):
            lat, lon = loc.get("latitude"), loc.get("longitude")
            if isinstance(lat, int | float) and isinstance(lon, int | float):
                points.append((float(lat), float(lon)))
    return points


def arrival(leaver: Leaver, offer: Mapping[str, Any]) -> datetime:
    """A: when the leaver can be at the offer's nearest location (R for no location)."""
    points = _locations(offer)
    if not points:
        return leaver.release_at
    prison = PRISONS.get(leaver.establishment_code or "")
    if prison is None:
        return leaver.release_at + TRAVEL_FIXED
    km = min(distance_km(prison.latitude, prison.longitude, lat, lon) for lat, lon in points)
    return leaver.release_at + TRAVEL_FIXED + timedelta(hours=km / TRAVEL_KM_PER_HOUR)


def distance_from_release_town(leaver: Leaver, offer: Mapping[str, Any]) -> float:
    """Kilometres from the release area's town to the nearest location (0: no location,
    or no known release area)."""
    town = LOCAL_AUTHORITIES.get(leaver.area or "")
    points = _locations(offer)
    if town is None or not points:
        return 0.0
    return min(distance_km(town.latitude, town.longitude, lat, lon) for lat, lon in points)


# --- reasons --------------------------------------------------------------------------


def _relative(day_offset: int) -> str:
    if day_offset == 0:
        return "the day you are released"
    if day_offset == 1:
        return "the day after you are released"
    if day_offset > 1:
        return f"{day_offset} days after you are released"
    return f"{-day_offset} days before you are released"


def describe_opening(
    opening: datetime, release_at: datetime, arrival_at: datetime | None = None
) -> str:
    """E.g. "Open Saturday 10:00, the day after you are released"."""
    local = opening.astimezone(LONDON)
    days = (local.date() - release_at.astimezone(LONDON).date()).days
    if opening <= release_at:
        return "Open when you are released"
    if arrival_at is not None and opening <= arrival_at:
        return f"Open when you can get there, about {local:%H:%M} {_relative(days)}"
    when = f"{local:%A} {local:%H:%M}"
    if days > 6:
        when = f"{local:%A} {local.day} {local:%B} {local:%H:%M}"
    return f"Open {when}, {_relative(days)}"


def _closed_days_reasons(schedule: Schedule, start: datetime, until: datetime | None) -> list[str]:
    """Bank holidays and closures between arrival and the next opening that kept it shut."""
    first = start.astimezone(LONDON).date()
    last = (until or start).astimezone(LONDON).date()
    reasons: list[str] = []
    for closure in schedule.closures:
        if closure.starts <= last and closure.ends >= first:
            span = (
                f"{closure.starts.day} {closure.starts:%B}"
                if closure.starts == closure.ends
                else f"{closure.starts.day} {closure.starts:%B} to {closure.ends.day} "
                f"{closure.ends:%B}"
            )
            reasons.append(f"Closed {span}" + (f": {closure.note}" if closure.note else ""))
    if not schedule.always_open and not schedule.open_on_bank_holidays:
        day = first
        while day <= last and day <= first + timedelta(days=20):
            name = bank_holiday_name(day)
            if name and not any(c.covers(day) for c in schedule.closures):
                reasons.append(f"Closed on the bank holiday, {day:%A} {day.day} {day:%B} ({name})")
            day += timedelta(days=1)
    return reasons


def _need_of(leaver: Leaver, category: str) -> tuple[int, str | None]:
    pathway = CATEGORY_PATHWAY.get(category)
    if pathway is None:
        return 0, None
    return leaver.needs.get(pathway, 0), pathway


def opening_score(next_open: datetime | None, release_at: datetime) -> float:
    """Up to 9 points: 9 when open at R, falling with the hours until it opens."""
    if next_open is None:
        return 0.0
    hours = max(0.0, (next_open - release_at).total_seconds() / 3600)
    return 9.0 * 24.0 / (24.0 + hours)


def score_offer(leaver: Leaver, offer: Mapping[str, Any], window: timedelta) -> Match:
    """The full rules for one eligible offer."""
    reasons: list[str] = []
    category = str(offer.get("category"))
    need, pathway = _need_of(leaver, category)
    if need and pathway:
        reasons.append(f"Matches your {_LEVEL_WORDS[need]} need: {PATHWAY_LABELS[pathway]}")
    rules: Mapping[str, Any] = offer.get("eligibility") or {}
    areas = rules.get("areas") or []
    if rules.get("requires_local_connection"):
        if leaver.local_connections is None:
            reasons.append(f"You may need a local connection to {_areas_words(areas)}")
        else:
            met = [a for a in areas if a in leaver.local_connections]
            reasons.append(f"You have a local connection to {_areas_words(met)}")
    schedule = Schedule.from_document(offer.get("schedule"))
    arrives = arrival(leaver, offer)
    opening = next_open_at(schedule, arrives)
    soon = opening is not None and opening <= leaver.release_at + window
    if schedule.always_open and opening == arrives:
        reasons.append("Open 24 hours")
    elif opening is not None:
        reasons.append(describe_opening(opening, leaver.release_at, arrives))
    elif schedule.never_open:
        reasons.append("No set opening hours: contact them to arrange a time")
    else:
        reasons.append("Not open in the coming weeks")
    if not schedule.never_open:
        reasons.extend(_closed_days_reasons(schedule, arrives, opening))
    delivery: Mapping[str, Any] = offer.get("delivery") or {}
    if (
        delivery.get("meet_at_gate")
        and leaver.establishment_code
        and leaver.establishment_code in (delivery.get("gate_establishments") or [])
        and is_open(schedule, leaver.release_at)
    ):
        reasons.append("Meets you at the gate")
    full = bool(offer.get("full"))
    if full:
        reasons.append("Full at the moment: you can still ask to join the waiting list")
    if leaver.area and leaver.area in areas:
        reasons.append("Works in the area you are released to")
    for cohort in rules.get("cohorts") or []:
        if cohort in leaver.cohorts and cohort in COHORT_LABELS:
            reasons.append(COHORT_LABELS[cohort])
    preferred = bool(
        leaver.worker_gender and leaver.worker_gender in (delivery.get("worker_genders") or [])
    )
    if preferred:
        reasons.append(f"Can offer you a {leaver.worker_gender} as your named worker")
    score = (
        (1000 if soon else 0)
        + (0 if full else 100)
        + 10 * need
        + opening_score(opening, leaver.release_at)
    )
    return Match(
        offer=offer,
        score=round(score, 3),
        reasons=reasons,
        next_open_at=opening,
        soon=soon,
        full=full,
        need=need,
        arrival_at=arrives,
        preferred_worker=preferred,
        distance_km=distance_from_release_town(leaver, offer),
    )


def order_key(match: Match) -> tuple[Any, ...]:
    """The §4 order as a sort key (smaller first)."""
    return (
        not match.soon,
        match.full,
        -match.need,
        match.next_open_at or _FAR_FUTURE,
        not match.preferred_worker,
        match.distance_km,
        str(match.offer.get("title") or ""),
        str(match.offer.get("id")),
    )


def match_offers(
    profile: Mapping[str, Any],
    offers: Sequence[Mapping[str, Any]],
    now: datetime,
    within_hours: int = 72,
) -> list[Match]:
    """The offers the leaver is eligible for, best first."""
    leaver = leaver_from_profile(profile, now)
    window = timedelta(hours=within_hours)
    matches = [score_offer(leaver, o, window) for o in offers if ineligibility(leaver, o) is None]
    matches.sort(key=order_key)
    return matches


def needed_categories(leaver: Leaver) -> list[str]:
    """Categories whose pathway the leaver has a need in (low or above), highest first."""
    return sorted(
        (c for c, p in CATEGORY_PATHWAY.items() if leaver.needs.get(p, 0) > 0),
        key=lambda c: (-leaver.needs.get(CATEGORY_PATHWAY[c], 0), c),
    )


def explain_exclusions(
    profile: Mapping[str, Any],
    offers: Sequence[Mapping[str, Any]],
    now: datetime,
    limit: int = 20,
) -> list[Exclusion]:
    """Up to ``limit`` offers in categories the leaver needs that they are not eligible
    for, with why: the highest need first, then by title."""
    leaver = leaver_from_profile(profile, now)
    needed = set(needed_categories(leaver))
    out = [
        Exclusion(o, reasons)
        for o in offers
        if str(o.get("category")) in needed and (reasons := exclusion_reasons(leaver, o))
    ]
    out.sort(
        key=lambda e: (
            -_need_of(leaver, str(e.offer.get("category")))[0],
            str(e.offer.get("title") or ""),
            str(e.offer.get("id")),
        )
    )
    return out[:limit]
