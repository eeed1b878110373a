"""Offers as Open Referral UK / HSDS 3 services (pure mapping, no I/O).

What maps where:

* ``id`` ← offer id; ``organization`` ← ``{"id", "name"}`` of the publishing organisation;
  ``name`` ← title; ``description`` ← summary and description; ``url``/``email`` ← contact;
  ``status`` is ``active`` (only published offers are exported).
* ``minimum_age``/``maximum_age`` ← eligibility ages; ``eligibility_description`` is the
  eligibility in words (genders, cohorts, areas, local connection).
* ``service_at_locations[].location`` ← each place: ``name``, ``latitude``, ``longitude`` and
  one physical address with ``address_1`` and ``postal_code`` (country ``GB``).
* ``schedules`` ← weekly periods grouped by identical hours: ``freq`` ``WEEKLY``, ``byday``
  (``MO,TU``), ``opens_at``/``closes_at`` as ``HH:MM`` London wall-clock time (so they
  follow GMT/BST, said in ``description``); an always-open offer is every day 00:00–23:59.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from app.offers.schemas import Offer

HSDS_VERSION = "3.0"
BYDAY = {"mon": "MO", "tue": "TU", "wed": "WE", "thu": "TH", "fri": "FR", "sat": "SA", "sun": "SU"}
ORDER = list(BYDAY)
COHORT_WORDS = {
    "women": "women",
    "young_adult": "young adults (18 to 25)",
    "short_sentence": "people released from a sentence under 12 months",
    "veteran": "veterans of the armed forces",
    "care_experienced": "care-experienced people",
}
TIMES_NOTE = "Times are UK local time (Europe/London)."


def eligibility_description(offer: Offer) -> str:
    rules = offer.eligibility
    parts: list[str] = []
    if rules.genders:
        parts.append("For " + ", ".join(g.replace("_", " ") for g in rules.genders) + ".")
    if rules.cohorts:
        parts.append("For " + ", ".join(COHORT_WORDS[c] for c in rules.cohorts) + ".")
    if rules.min_age is not None or rules.max_age is not None:
        if rules.min_age is not None and rules.max_age is not None:
            parts.append(f"Aged {rules.min_age} to {rules.max_age}.")
        elif rules.min_age is not None:
            parts.append(f"Aged {rules.min_age} or over.")
        else:
            parts.append(f"Aged {rules.max_age} or under.")
    if rules.areas:
        areas = ", ".join(rules.areas)
        if rules.requires_local_connection:
            parts.append(f"Only for people with a local connection to: {areas}.")
        else:
            parts.append(f"Serves: {areas}.")
    parts.append("People leaving prison.")
    return " ".join(parts)


def schedules(offer: Offer) -> list[dict[str, Any]]:
    if offer.schedule.always_open:
        return [
            {
                "id": f"{offer.id}-always",
                "service_id": str(offer.id),
                "freq": "WEEKLY",
                "byday": ",".join(BYDAY.values()),
                "opens_at": "00:00",
                "closes_at": "23:59",
                "description": "Open 24 hours. " + TIMES_NOTE,
            }
        ]
    groups: dict[tuple[str, str], list[str]] = {}
    for period in offer.schedule.weekly:
        days = groups.setdefault((period.opens, period.closes), [])
        if period.day not in days:
            days.append(period.day)
    out = []
    for index, ((opens, closes), days) in enumerate(sorted(groups.items())):
        out.append(
            {
                "id": f"{offer.id}-{index}",
                "service_id": str(offer.id),
                "freq": "WEEKLY",
                "byday": ",".join(BYDAY[d] for d in sorted(days, key=ORDER.index)),
                "opens_at": opens,
                "closes_at": "23:59" if closes == "24:00" else closes,
                "description": TIMES_NOTE,
            }
        )
    return out


def to_service(offer: Offer) -> dict[str, Any]:
    description = "\n\n".join(p for p in (offer.summary, offer.description) if p)
    return {
        "id": str(offer.id),
        "organization": {"id": str(offer.organisation.id), "name": offer.organisation.name},
        "name": offer.title,
        "description": description,
        "url": offer.contact.url,
        "email": offer.contact.email,
        "status": "active",
        "minimum_age": offer.eligibility.min_age,
        "maximum_age": offer.eligibility.max_age,
        "eligibility_description": eligibility_description(offer),
        "last_modified": offer.updated_at.isoformat(),
        "phones": [{"number": offer.contact.phone}] if offer.contact.phone else [],
        "service_at_locations": [
            {
                "id": f"{offer.id}-{i}",
                "location": {
                    "id": f"{offer.id}-{i}",
                    "location_type": "physical",
                    "name": loc.name,
                    "latitude": loc.latitude,
                    "longitude": loc.longitude,
                    "addresses": [
                        {
                            "address_type": "physical",
                            "address_1": loc.address or loc.name,
                            "postal_code": loc.postcode,
                            "country": "GB",
                        }
                    ],
                },
            }
            for i, loc in enumerate(offer.locations)
        ],
        "schedules": schedules(offer),
        "taxonomy_terms": [{"term": offer.category, "vocabulary": "onward-category"}],
    }


def page_envelope(
    contents: Sequence[dict[str, Any]], *, total: int, page: int, per_page: int
) -> dict[str, Any]:
    """The HSDS 3 page: ``size`` is the number of items on this page."""
    total_pages = math.ceil(total / per_page) if total else 0
    return {
        "total_items": total,
        "total_pages": total_pages,
        "page_number": page,
        "size": len(contents),
        "first_page": page == 1,
        "last_page": page >= total_pages,
        "empty": not contents,
        "contents": list(contents),
    }
