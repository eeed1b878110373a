"""Offers as Open Referral UK 3.0 (HSDS 3) services (pure mapping, no I/O).

Every document validates against the official ORUK 3.0 compiled schemas (``service.json``
for one service, ``service_list.json`` for the items of a page) with format checking, and
carries only members those schemas define: the models below forbid anything else, and an
absent optional value is left out (the API serialises them with ``exclude_none``), never
sent as ``null`` where the schema's type forbids it.

What maps where:

* ``id`` ← offer id; ``organization_id`` and ``organization`` ← the publishing organisation
  (``description`` is required by the profile, so it is written from the name);
  ``name`` ← title; ``url``/``email`` ← contact (a URL that is not a valid RFC 3986 URI
  once percent-encoded is left out); ``status`` is ``active`` (only published offers are
  exported); ``minimum_age``/``maximum_age`` ← eligibility ages when set;
  ``last_modified`` ← ``updated_at``.
* ``description`` ← summary and description, then who it is for in words (genders,
  cohorts, ages, areas, local connection) and the phone number: the UK profile has no
  ``eligibility_description`` and no ``phones``, so that is where they live now.
* ``service_areas`` ← ``eligibility.areas`` (name of the local authority, ONS URI).
* ``attributes`` ← the category, as a term of the ``onward-category`` taxonomy.
* ``service_at_locations[].location`` ← each place: ``name``, ``latitude``, ``longitude``
  and, when the place has a postcode and its local authority is known (the Thames Valley
  authority whose town is nearest, within 25 km, else the offer's only area if its town
  is within 50 km), one physical address (``city`` = that authority's main town,
  ``state_province`` = its county, country ``GB``); otherwise the address in words goes
  to the location's ``description``.
* ``schedules`` ← weekly periods grouped by identical hours: ``freq`` ``WEEKLY``, ``byday``
  (``MO,TU``), ``opens_at``/``closes_at`` as ``HH:MM`` London wall-clock time (so they
  follow GMT/BST, said in ``description``); an always-open offer is every day 00:00–23:59.

Ids of the sub-entities are UUID 5 of the offer id and the entity's role and position, so
the same offer always yields the same ids (harvesters can diff), and no two offers share one.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from app.offers.schemas import Location, Offer

HSDS_VERSION = "3.0"
PROFILE_URL = "https://openreferraluk.org"
BYDAY = {"mon": "MO", "tue": "TU", "wed": "WE", "thu": "TH", "fri": "FR", "sat": "SA", "sun": "SU"}
ORDER = list(BYDAY)
COHORT_WORDS = {
    "women": "women",
    "young_adult": "young adults (18 to 25)",
    "short_sentence": "people released from a sentence under 12 months",
    "veteran": "veterans of the armed forces",
    "care_experienced": "care-experienced people",
}
CATEGORY_WORDS = {
    "accommodation": "Accommodation",
    "attitudes_behaviour": "Attitudes, thinking and behaviour",
    "children_families": "Children and families",
    "drugs_alcohol": "Drugs and alcohol",
    "education_work": "Education, training and employment",
    "finance_id": "Finance, benefits, debt and ID",
    "health": "Health",
    "wellbeing": "Wellbeing",
    "practical": "Practical help",
}
TIMES_NOTE = "Times are UK local time (Europe/London)."
CATEGORY_TAXONOMY = "onward-category"
ONS_URI = "http://statistics.data.gov.uk/id/statistical-geography/"
# Fixed namespace for ids shared by every service (the category terms).
TERMS_NAMESPACE = uuid.UUID("3d6f4a8e-5b0c-4c1e-9f62-7a4e1d0b9c35")
NEAR_KM = 25.0
FAR_KM = 50.0


@dataclass(frozen=True)
class LocalAuthority:
    code: str
    name: str
    town: str
    county: str
    latitude: float
    longitude: float


# The 13 local authorities of the Thames Valley (ONS codes, names, main towns and town-centre
# coordinates as in the reference data ``thames_valley.json``) with their ceremonial county.
LOCAL_AUTHORITIES: dict[str, LocalAuthority] = {
    la.code: la
    for la in (
        LocalAuthority("E06000036", "Bracknell Forest", "Bracknell", "Berkshire", 51.416, -0.754),
        LocalAuthority("E06000037", "West Berkshire", "Newbury", "Berkshire", 51.4014, -1.3231),
        LocalAuthority("E06000038", "Reading", "Reading", "Berkshire", 51.4543, -0.9781),
        LocalAuthority("E06000039", "Slough", "Slough", "Berkshire", 51.5105, -0.595),
        LocalAuthority(
            "E06000040", "Windsor and Maidenhead", "Maidenhead", "Berkshire", 51.5218, -0.7177
        ),
        LocalAuthority("E06000041", "Wokingham", "Wokingham", "Berkshire", 51.4112, -0.8339),
        LocalAuthority(
            "E06000042", "Milton Keynes", "Milton Keynes", "Buckinghamshire", 52.0406, -0.7594
        ),
        LocalAuthority(
            "E06000060", "Buckinghamshire", "Aylesbury", "Buckinghamshire", 51.8156, -0.8084
        ),
        LocalAuthority("E07000177", "Cherwell", "Banbury", "Oxfordshire", 52.0629, -1.3398),
        LocalAuthority("E07000178", "Oxford", "Oxford", "Oxfordshire", 51.752, -1.2577),
        LocalAuthority("E07000179", "South Oxfordshire", "Didcot", "Oxfordshire", 51.608, -1.241),
        LocalAuthority(
            "E07000180", "Vale of White Horse", "Abingdon", "Oxfordshire", 51.6708, -1.283
        ),
        LocalAuthority("E07000181", "West Oxfordshire", "Witney", "Oxfordshire", 51.784, -1.485),
    )
}


# --- The documents (members exactly as the ORUK 3.0 compiled schemas define them) ---------


class _Document(BaseModel):
    # A member the profile does not define is a bug: refuse to build it. Optional members
    # are `X | SkipJsonSchema[None] = None`: the API leaves them out when absent
    # (`response_model_exclude_none`), so the spec says "optional", never "nullable".
    model_config = ConfigDict(extra="forbid")


class OrukOrganization(_Document):
    """The organisation that provides the service."""

    model_config = ConfigDict(title="OrukOrganization")

    id: uuid.UUID
    name: str
    description: str


class OrukAddress(_Document):
    model_config = ConfigDict(title="OrukAddress")

    id: uuid.UUID
    location_id: uuid.UUID
    address_1: str
    city: str
    state_province: str = Field(description="The county.")
    postal_code: str
    country: str = Field(description="ISO 3166-1 alpha-2: always `GB`.")
    address_type: Literal["physical"]


class OrukLocation(_Document):
    model_config = ConfigDict(title="OrukLocation")

    id: uuid.UUID
    location_type: Literal["physical"]
    name: str
    description: str | SkipJsonSchema[None] = Field(
        default=None, description="The address in words when no postal address can be given."
    )
    latitude: float
    longitude: float
    addresses: list[OrukAddress]


class OrukServiceAtLocation(_Document):
    model_config = ConfigDict(title="OrukServiceAtLocation")

    id: uuid.UUID
    service_id: uuid.UUID
    location_id: uuid.UUID
    location: OrukLocation


class OrukSchedule(_Document):
    model_config = ConfigDict(title="OrukSchedule")

    id: uuid.UUID
    service_id: uuid.UUID
    valid_from: date | SkipJsonSchema[None] = None
    valid_to: date | SkipJsonSchema[None] = None
    freq: Literal["WEEKLY"]
    byday: str = Field(description="iCal days, e.g. `MO,TU`.")
    opens_at: str = Field(description="`HH:MM`, wall-clock time in Europe/London.")
    closes_at: str = Field(description="`HH:MM`, wall-clock time in Europe/London.")
    description: str


class OrukServiceArea(_Document):
    model_config = ConfigDict(title="OrukServiceArea")

    id: uuid.UUID
    service_id: uuid.UUID
    name: str = Field(description="The local authority (its ONS code when not known here).")
    uri: str = Field(description="The ONS linked-data URI of the local authority.")


class OrukTaxonomyTerm(_Document):
    model_config = ConfigDict(title="OrukTaxonomyTerm")

    id: uuid.UUID
    name: str
    description: str
    taxonomy: str
    term: str


class OrukAttribute(_Document):
    model_config = ConfigDict(title="OrukAttribute")

    id: uuid.UUID
    link_id: uuid.UUID
    taxonomy_term_id: uuid.UUID
    taxonomy_term: OrukTaxonomyTerm


class OrukServiceSummary(_Document):
    """A service with its one-to-one members only (ORUK `service_list.json`)."""

    model_config = ConfigDict(title="OrukServiceSummary")

    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    description: str
    url: str | SkipJsonSchema[None] = Field(default=None, json_schema_extra={"format": "uri"})
    email: str | SkipJsonSchema[None] = Field(default=None, json_schema_extra={"format": "email"})
    status: Literal["active"]
    minimum_age: int | SkipJsonSchema[None] = None
    maximum_age: int | SkipJsonSchema[None] = None
    last_modified: datetime
    organization: OrukOrganization


class OrukService(OrukServiceSummary):
    """A fully nested service (ORUK `service.json`)."""

    model_config = ConfigDict(title="OrukService")

    schedules: list[OrukSchedule]
    service_areas: list[OrukServiceArea]
    service_at_locations: list[OrukServiceAtLocation]
    attributes: list[OrukAttribute]


class OrukServicePage(_Document):
    """The standard's page of services: `size` is the number of items on this page."""

    model_config = ConfigDict(title="OrukServicePage")

    total_items: int
    total_pages: int
    page_number: int
    size: int
    first_page: bool
    last_page: bool
    empty: bool
    contents: list[OrukServiceSummary]


class OrukApiInfo(_Document):
    model_config = ConfigDict(title="OrukApiInfo")

    version: str = Field(description="The HSDS version of this API.")
    profile: str = Field(description="The HSDS profile: Open Referral UK.")
    openapi_url: str = Field(description="Where this API's OpenAPI document is.")


# --- Mapping ---------------------------------------------------------------------------------


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
        areas = ", ".join(_area_name(code) for code in rules.areas)
        if rules.requires_local_connection:
            parts.append(f"Only for people with a local connection to: {areas}.")
        else:
            parts.append(f"Serves: {areas}.")
    parts.append("People leaving prison.")
    return " ".join(parts)


def _area_name(code: str) -> str:
    known = LOCAL_AUTHORITIES.get(code)
    return known.name if known else code


def _description(offer: Offer) -> str:
    parts = [offer.summary, offer.description, "Who it is for: " + eligibility_description(offer)]
    if offer.contact.phone:
        parts.append("Phone: " + offer.contact.phone)
    return "\n\n".join(p for p in parts if p)


def organisation_description(name: str) -> str:
    return f"{name} publishes services for people leaving prison on Onward."


# RFC 3986 pieces (the `uri` format the schemas check).
_UNRESERVED = "A-Za-z0-9\\-._~"
_SUB_DELIMS = "!$&'()*+,;="
_PCT = "%[0-9A-Fa-f]{2}"
_AUTHORITY = re.compile(
    rf"^(?:(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*@)?"  # userinfo
    rf"(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})+"  # reg-name (IPv4 included)
    r"(?::[0-9]*)?$"  # port
)
_PARTS = re.compile(r"^(https?)://([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#(.*))?$", re.IGNORECASE)
_PATH_SAFE = "-._~" + _SUB_DELIMS + ":@/"
_QUERY_SAFE = _PATH_SAFE + "?"
_BARE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _encode(part: str, safe: str) -> str:
    return quote(_BARE_PERCENT.sub("%25", part), safe=safe + "%")


def to_uri(url: str | None) -> str | None:
    """The offer's URL as an RFC 3986 URI (characters a URI cannot hold percent-encoded in
    the path, query and fragment), or None when its host part cannot be one."""
    if not url:
        return None
    match = _PARTS.match(url)
    if match is None:
        return None
    scheme, authority, path, query, fragment = match.groups()
    if not _AUTHORITY.match(authority):
        return None
    uri = f"{scheme}://{authority}{_encode(path, _PATH_SAFE)}"
    if query is not None:
        uri += "?" + _encode(query, _QUERY_SAFE)
    if fragment is not None:
        uri += "#" + _encode(fragment, _QUERY_SAFE)
    return uri


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def local_authority(loc: Location, offer: Offer) -> LocalAuthority | None:
    """The local authority a place is in: the Thames Valley one whose town is nearest
    (within 25 km), else the offer's only area when it is one we know and its town is
    within 50 km, else None."""
    nearest = min(
        LOCAL_AUTHORITIES.values(),
        key=lambda la: _km(loc.latitude, loc.longitude, la.latitude, la.longitude),
    )
    if _km(loc.latitude, loc.longitude, nearest.latitude, nearest.longitude) <= NEAR_KM:
        return nearest
    only = (
        LOCAL_AUTHORITIES.get(offer.eligibility.areas[0])
        if len(offer.eligibility.areas) == 1
        else None
    )
    # A rural place of a large authority may be far from its town, but not this far: a
    # wrong town in an address is worse than none.
    if only and _km(loc.latitude, loc.longitude, only.latitude, only.longitude) <= FAR_KM:
        return only
    return None


def _location(offer: Offer, index: int, loc: Location) -> OrukLocation:
    location_id = uuid.uuid5(offer.id, f"location/{index}")
    authority = local_authority(loc, offer)
    postcode = (loc.postcode or "").strip()
    addresses: list[OrukAddress] = []
    description: str | None = None
    if postcode and authority is not None:
        addresses.append(
            OrukAddress(
                id=uuid.uuid5(offer.id, f"address/{index}"),
                location_id=location_id,
                address_1=loc.address or loc.name,
                city=authority.town,
                state_province=authority.county,
                postal_code=postcode,
                country="GB",
                address_type="physical",
            )
        )
    else:
        words = ", ".join(p for p in (loc.address, postcode) if p)
        description = words or None
    return OrukLocation(
        id=location_id,
        location_type="physical",
        name=loc.name,
        description=description,
        latitude=loc.latitude,
        longitude=loc.longitude,
        addresses=addresses,
    )


def schedules(offer: Offer) -> list[OrukSchedule]:
    common = {
        "service_id": offer.id,
        "valid_from": offer.valid_from,
        "valid_to": offer.valid_until,
        "freq": "WEEKLY",
    }
    if offer.schedule.always_open:
        return [
            OrukSchedule.model_validate(
                {
                    **common,
                    "id": uuid.uuid5(offer.id, "schedule/always"),
                    "byday": ",".join(BYDAY.values()),
                    "opens_at": "00:00",
                    "closes_at": "23:59",
                    "description": "Open 24 hours. " + TIMES_NOTE,
                }
            )
        ]
    groups: dict[tuple[str, str], list[str]] = {}
    for period in offer.schedule.weekly:
        days = groups.setdefault((period.opens, period.closes), [])
        if period.day not in days:
            days.append(period.day)
    return [
        OrukSchedule.model_validate(
            {
                **common,
                "id": uuid.uuid5(offer.id, f"schedule/{index}"),
                "byday": ",".join(BYDAY[d] for d in sorted(days, key=ORDER.index)),
                "opens_at": opens,
                "closes_at": "23:59" if closes == "24:00" else closes,
                "description": TIMES_NOTE,
            }
        )
        for index, ((opens, closes), days) in enumerate(sorted(groups.items()))
    ]


def _category(offer: Offer) -> OrukAttribute:
    label = CATEGORY_WORDS.get(offer.category, offer.category)
    term_id = uuid.uuid5(TERMS_NAMESPACE, f"{CATEGORY_TAXONOMY}/{offer.category}")
    return OrukAttribute(
        id=uuid.uuid5(offer.id, "attribute/category"),
        link_id=offer.id,
        taxonomy_term_id=term_id,
        taxonomy_term=OrukTaxonomyTerm(
            id=term_id,
            name=label,
            description=f"Support for people leaving prison: {label.lower()}.",
            taxonomy=CATEGORY_TAXONOMY,
            term=offer.category,
        ),
    )


def _summary_members(offer: Offer) -> dict[str, object]:
    return {
        "id": offer.id,
        "organization_id": offer.organisation.id,
        "name": offer.title,
        "description": _description(offer),
        "url": to_uri(offer.contact.url),
        "email": offer.contact.email,
        "status": "active",
        "minimum_age": offer.eligibility.min_age,
        "maximum_age": offer.eligibility.max_age,
        "last_modified": offer.updated_at,
        "organization": OrukOrganization(
            id=offer.organisation.id,
            name=offer.organisation.name,
            description=organisation_description(offer.organisation.name),
        ),
    }


def to_service_summary(offer: Offer) -> OrukServiceSummary:
    """The one-to-one members of the service, as a page lists them."""
    return OrukServiceSummary.model_validate(_summary_members(offer))


def to_service(offer: Offer) -> OrukService:
    """The fully nested service."""
    return OrukService.model_validate(
        {
            **_summary_members(offer),
            "schedules": schedules(offer),
            "service_areas": [
                OrukServiceArea(
                    id=uuid.uuid5(offer.id, f"service_area/{code}"),
                    service_id=offer.id,
                    name=_area_name(code),
                    uri=ONS_URI + code,
                )
                for code in offer.eligibility.areas
            ],
            "service_at_locations": [
                OrukServiceAtLocation(
                    id=uuid.uuid5(offer.id, f"service_at_location/{i}"),
                    service_id=offer.id,
                    location_id=uuid.uuid5(offer.id, f"location/{i}"),
                    location=_location(offer, i, loc),
                )
                for i, loc in enumerate(offer.locations)
            ],
            "attributes": [_category(offer)],
        }
    )


def page_envelope(
    contents: Sequence[OrukServiceSummary], *, total: int, page: int, per_page: int
) -> OrukServicePage:
    """The HSDS 3 page: ``size`` is the number of items on this page."""
    total_pages = math.ceil(total / per_page) if total else 0
    return OrukServicePage(
        total_items=total,
        total_pages=total_pages,
        page_number=page,
        size=len(contents),
        first_page=page == 1,
        last_page=page >= total_pages,
        empty=not contents,
        contents=list(contents),
    )
