"""Which offers fit a leaver, and in what order (pure, no I/O).

Input: the leaver's profile document (API.md §2), offers in their API shape (dicts with
``id``, ``category``, ``eligibility``, ``delivery``, ``schedule``), the current instant and
the window in hours. R, the moment that matters, is ``release.expected_at`` (even when it
is past) or, when unknown, now.

Eligibility (an offer is listed only if all hold):

* **gender**: an offer with no genders is for anyone; otherwise the leaver's
  ``identity.gender`` must be listed. An unknown gender matches only offers open to anyone.
* **age** at R, from ``identity.date_of_birth``: within ``min_age``/``max_age``. With no
  date of birth, only offers with no age limits are listed (we never guess an age).
* **cohorts**: an offer with cohorts is "for these cohorts": the leaver must belong to at
  least one. Derived from the profile: ``women`` (gender woman), ``young_adult`` (18–25 at
  R), ``short_sentence`` (``release.sentence_months`` < 12). ``veteran`` and
  ``care_experienced`` cannot be derived from the profile, so they never match: an offer
  only for veterans is not listed (the leaver still finds it in the catalogue).
* **local connection**: with ``requires_local_connection`` the leaver's ``release.area``
  must be one of the offer's areas (unknown area: not eligible); without it, anyone.

Score (higher first): 10 points per level of the leaver's need in the offer's pathway
(high 3, medium 2, low 1, none or unknown 0; ``wellbeing`` counts the higher of health and
attitudes/behaviour, ``practical`` the higher of finance/ID and accommodation) + 5 when
the offer opens within [R, R + window] + 2 for meeting at the gate + 1 when it serves the
release area. So need dominates, and within the same need "open soon" ranks first. Ties:
the earlier ``next_open_at`` (none last), then the id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from app.offers.schedule import LONDON, Schedule, next_opening

NEED_POINTS = {"high": 3, "medium": 2, "low": 1, "none": 0}
NEED_WEIGHT = 10
SOON_BONUS = 5
GATE_BONUS = 2
AREA_BONUS = 1

PATHWAY_LABELS = {
    "accommodation": "accommodation",
    "attitudes_behaviour": "attitudes and behaviour",
    "children_families": "children and families",
    "drugs_alcohol": "drugs and alcohol",
    "education_work": "education and work",
    "finance_id": "money and ID",
    "health": "health",
}
# Categories that are not pathways count the leaver's needs in the nearest pathways.
CATEGORY_PATHWAYS: dict[str, tuple[str, ...]] = {
    **{p: (p,) for p in PATHWAY_LABELS},
    "wellbeing": ("health", "attitudes_behaviour"),
    "practical": ("finance_id", "accommodation"),
}
COHORT_LABELS = {
    "women": "For women",
    "young_adult": "For young adults (18 to 25)",
    "short_sentence": "For people who served a short sentence",
}


# What matching reads of an offer besides its id (offers.service fetches only these).
OFFER_PARTS = ("category", "eligibility", "schedule", "delivery")


@dataclass(frozen=True, slots=True)
class Leaver:
    """What matching knows about a leaver, derived from the profile document."""

    release_at: datetime
    gender: str | None
    age: int | None
    area: str | None
    cohorts: frozenset[str]
    needs: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Match:
    offer: Mapping[str, Any]
    score: float
    reasons: list[str]
    next_open_at: datetime | None


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
    return Leaver(
        release_at=release_at,
        gender=gender,
        age=age,
        area=area if isinstance(area, str) else None,
        cohorts=frozenset(cohorts),
        needs=needs,
    )


def ineligibility(leaver: Leaver, offer: Mapping[str, Any]) -> str | None:
    """Why the leaver cannot use the offer, or None when they can."""
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
    if rules.get("requires_local_connection") and leaver.area not in (rules.get("areas") or []):
        return "local connection"
    return None


def _need(leaver: Leaver, category: str) -> tuple[int, str | None]:
    best, best_pathway = 0, None
    for pathway in CATEGORY_PATHWAYS.get(category, ()):
        level = leaver.needs.get(pathway, 0)
        if level > best:
            best, best_pathway = level, pathway
    return best, best_pathway


_LEVEL_WORDS = {3: "high", 2: "medium", 1: "low"}


def describe_opening(opening: datetime, release_at: datetime) -> str:
    """E.g. "Open Saturday 10:00, the day after you are released"."""
    local = opening.astimezone(LONDON)
    released = release_at.astimezone(LONDON)
    days = (local.date() - released.date()).days
    when = f"{local:%A} {local:%H:%M}"
    if opening <= release_at:
        return "Open when you are released"
    if days == 0:
        relative = "the day you are released"
    elif days == 1:
        relative = "the day after you are released"
    elif days > 1:
        relative = f"{days} days after you are released"
    else:
        relative = f"{-days} days before you are released"
    if days > 6:
        when = f"{local:%A} {local.day} {local:%B} {local:%H:%M}"
    return f"Open {when}, {relative}"


def score_offer(
    leaver: Leaver, offer: Mapping[str, Any], window: timedelta
) -> tuple[float, list[str], datetime | None]:
    reasons: list[str] = []
    score = 0.0
    level, pathway = _need(leaver, str(offer.get("category")))
    if level and pathway:
        score += NEED_WEIGHT * level
        reasons.append(f"Matches your {_LEVEL_WORDS[level]} need: {PATHWAY_LABELS[pathway]}")
    schedule = Schedule.from_document(offer.get("schedule"))
    opening = next_opening(schedule, leaver.release_at)
    if opening is not None and opening <= leaver.release_at + window:
        score += SOON_BONUS
    if schedule.always_open:
        reasons.append("Open 24 hours")
    elif opening is not None:
        reasons.append(describe_opening(opening, leaver.release_at))
    else:
        reasons.append("No set opening hours: contact them to arrange a time")
    delivery: Mapping[str, Any] = offer.get("delivery") or {}
    if delivery.get("meet_at_gate"):
        score += GATE_BONUS
        reasons.append("Meets you at the gate")
    rules: Mapping[str, Any] = offer.get("eligibility") or {}
    if leaver.area and leaver.area in (rules.get("areas") or []):
        score += AREA_BONUS
        reasons.append("Works in the area you are released to")
    for cohort in rules.get("cohorts") or []:
        if cohort in leaver.cohorts and cohort in COHORT_LABELS:
            reasons.append(COHORT_LABELS[cohort])
    return score, reasons, opening


_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


def match_offers(
    profile: Mapping[str, Any],
    offers: Sequence[Mapping[str, Any]],
    now: datetime,
    within_hours: int = 72,
) -> list[Match]:
    """The offers the leaver is eligible for, best first."""
    leaver = leaver_from_profile(profile, now)
    window = timedelta(hours=within_hours)
    matches: list[Match] = []
    for offer in offers:
        if ineligibility(leaver, offer) is not None:
            continue
        score, reasons, opening = score_offer(leaver, offer, window)
        matches.append(Match(offer, score, reasons, opening))
    matches.sort(key=lambda m: (-m.score, m.next_open_at or _FAR_FUTURE, str(m.offer["id"])))
    return matches
