"""Offer documents (API.md §4): vocabularies, the request body, the response.

Every request model refuses unknown keys, and treats ``null`` as "absent" (the default
applies). Validation messages never repeat what was sent.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.consent import catalogue
from app.consent.schemas import OrganisationRef
from app.errors import refuse_nul
from app.offers.places import ESTABLISHMENT_CODES
from app.offers.schedule import parse_hhmm
from app.schemas import StrictRequest

# Re-exported: the vocabulary lives in app.vocabulary (the tables constrain it too).
from app.vocabulary import CATEGORIES as CATEGORIES
from app.vocabulary import OFFER_STATUSES
from app.vocabulary import Category as Category
from app.vocabulary import OfferStatus as OfferStatus

Cohort = Literal["women", "young_adult", "short_sentence", "veteran", "care_experienced"]
Gender = Literal["woman", "man", "non_binary", "other", "prefer_not_to_say"]
DeliveryMode = Literal["in_person", "phone", "online", "outreach"]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

COHORTS: tuple[str, ...] = get_args(Cohort)
GENDERS: tuple[str, ...] = get_args(Gender)
DELIVERY_MODES: tuple[str, ...] = get_args(DeliveryMode)
STATUSES: tuple[str, ...] = OFFER_STATUSES

# Required fields are paths of the consent field catalogue (leaves or whole sections).
CATALOGUE_PATHS: frozenset[str] = catalogue.PATHS

ONS_CODE = re.compile(r"^[ENSW][0-9]{8}$")
HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
URL = re.compile(r"^https?://[^\s]+$")


def _unique(values: list[Any]) -> list[Any]:
    if len(set(values)) != len(values):
        raise ValueError("values must not repeat")
    return values


def _area(code: str) -> str:
    if not ONS_CODE.match(code):
        raise ValueError("must be an ONS local authority code such as E06000038")
    return code


def _establishment(code: str) -> str:
    if code not in ESTABLISHMENT_CODES:
        raise ValueError(
            "must be the three-letter HMPPS code of a prison we know, such as BLI (Bullingdon)"
        )
    return code


def _field_path(path: str) -> str:
    if path not in CATALOGUE_PATHS:
        raise ValueError("must be a path of the field catalogue (GET /v1/consent/fields)")
    return path


Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
# Checked by the validators (plain-words messages); the schema declares the same rules.
AreaCode = Annotated[
    str, Field(json_schema_extra={"pattern": ONS_CODE.pattern}), AfterValidator(_area)
]
EstablishmentCode = Annotated[
    str,
    Field(
        description="HMPPS three-letter establishment code (e.g. BLI, HMP Bullingdon).",
        json_schema_extra={"enum": list(ESTABLISHMENT_CODES)},
    ),
    AfterValidator(_establishment),
]
FieldPath = Annotated[
    str,
    Field(json_schema_extra={"maxLength": catalogue.MAX_PATH_LENGTH}),
    AfterValidator(_field_path),
]


class _Request(StrictRequest):
    """Strict (app.schemas), and ``null`` means absent (the field's default applies)."""

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return refuse_nul(value)


class Eligibility(_Request):
    genders: Annotated[list[Gender], AfterValidator(_unique)] = Field(
        default_factory=list, max_length=5, description="Empty: anyone."
    )
    min_age: int | None = Field(default=None, ge=0, le=120)
    max_age: int | None = Field(default=None, ge=0, le=120)
    cohorts: Annotated[list[Cohort], AfterValidator(_unique)] = Field(
        default_factory=list,
        max_length=5,
        description="For these cohorts (someone in at least one of them). Empty: anyone.",
    )
    areas: Annotated[list[AreaCode], AfterValidator(_unique)] = Field(
        default_factory=list,
        max_length=400,
        description="ONS local authority codes the offer serves. Empty: everywhere.",
    )
    requires_local_connection: bool = Field(
        default=False,
        description="Only people with a local connection (`release.local_connections`) to "
        "one of `areas` are eligible (needs `areas`); with `false` anyone may use it.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Eligibility:
        if self.min_age is not None and self.max_age is not None and self.max_age < self.min_age:
            raise ValueError("max_age must not be below min_age")
        if self.requires_local_connection and not self.areas:
            raise ValueError("requires_local_connection needs at least one area")
        return self


class Delivery(_Request):
    modes: Annotated[list[DeliveryMode], AfterValidator(_unique)] = Field(
        default_factory=list, max_length=4
    )
    meet_at_gate: bool = Field(default=False, description="Meets the person at the prison gate.")
    gate_establishments: Annotated[list[EstablishmentCode], AfterValidator(_unique)] = Field(
        default_factory=list,
        max_length=20,
        description="HMPPS codes of the prisons whose gate it meets people at (needs "
        "`meet_at_gate`).",
    )
    worker_genders: Annotated[list[Literal["woman", "man"]], AfterValidator(_unique)] = Field(
        default_factory=list,
        max_length=2,
        description="Who can be the named worker; empty: not said.",
    )

    @model_validator(mode="after")
    def _gates_need_meeting(self) -> Delivery:
        if self.gate_establishments and not self.meet_at_gate:
            raise ValueError("gate_establishments needs meet_at_gate")
        return self


class Location(_Request):
    name: str = Field(min_length=1, max_length=200)
    address: str | None = Field(default=None, max_length=500)
    postcode: str | None = Field(default=None, max_length=10)
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class OpeningPeriod(_Request):
    day: Day
    opens: str = Field(
        description="Wall-clock `HH:MM`, Europe/London.",
        json_schema_extra={"pattern": HHMM.pattern},
    )
    closes: str = Field(
        description="Wall-clock `HH:MM` (or `24:00`), later than `opens`.",
        json_schema_extra={"pattern": HHMM.pattern},
    )

    @field_validator("opens", "closes")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not HHMM.match(value):
            raise ValueError("must be a time HH:MM (00:00 to 24:00)")
        return value

    @model_validator(mode="after")
    def _closes_after_opens(self) -> OpeningPeriod:
        if parse_hhmm(self.closes) <= parse_hhmm(self.opens):
            raise ValueError(
                "closes must be later than opens; split a night service into two periods"
            )
        return self


class Closure(_Request):
    """Closed on every London date from `from` to `until`, both included."""

    model_config = ConfigDict(serialize_by_alias=True)

    from_: date = Field(alias="from", description="First closed date (Europe/London).")
    until: date = Field(description="Last closed date, included.")
    note: str = Field(default="", max_length=200, description="Why, in plain words.")

    @model_validator(mode="after")
    def _ordered(self) -> Closure:
        if self.until < self.from_:
            raise ValueError("until must not be before from")
        return self


class OpeningHours(_Request):
    always_open: bool = False
    weekly: list[OpeningPeriod] = Field(
        default_factory=list,
        max_length=50,
        description="Several periods a day are allowed. Times follow the clocks (GMT/BST).",
    )
    open_on_bank_holidays: bool = Field(
        default=False,
        description="Open on bank holidays in England and Wales; by default weekly hours do "
        "not apply on them (an always-open offer stays open).",
    )
    closures: list[Closure] = Field(
        default_factory=list, max_length=50, description="Dates it is closed (any offer)."
    )


class OfferContact(_Request):
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254, pattern=EMAIL.pattern)
    url: str | None = Field(default=None, max_length=2000, pattern=URL.pattern)


class OfferCreate(_Request):
    """An offer as a provider publishes it (POST) or replaces it (PUT)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Housing advice drop-in",
                    "summary": "Same-week help to find somewhere to stay after release.",
                    "description": "Free and confidential. Bring what you have.",
                    "category": "accommodation",
                    "tags": ["housing", "drop-in"],
                    "eligibility": {"areas": ["E06000038"], "requires_local_connection": False},
                    "delivery": {"modes": ["in_person"], "meet_at_gate": False},
                    "locations": [
                        {
                            "name": "Reading centre",
                            "address": "High Street, Reading",
                            "postcode": "RG1 1AA",
                            "latitude": 51.4543,
                            "longitude": -0.9781,
                        }
                    ],
                    "schedule": {
                        "weekly": [
                            {"day": "mon", "opens": "09:00", "closes": "17:00"},
                            {"day": "sat", "opens": "10:00", "closes": "14:00"},
                        ]
                    },
                    "contact": {"phone": "0118 496 0000", "email": "hello@example.org"},
                    "required_fields": ["identity.given_name", "contact.phone", "release.area"],
                    "status": "published",
                }
            ]
        }
    )

    title: str = Field(min_length=3, max_length=200)
    summary: str = Field(default="", max_length=500)
    description: str = Field(default="", max_length=10_000)
    category: Category
    tags: Annotated[list[Tag], AfterValidator(_unique)] = Field(default_factory=list, max_length=30)
    eligibility: Eligibility = Field(default_factory=Eligibility)
    delivery: Delivery = Field(default_factory=Delivery)
    locations: list[Location] = Field(default_factory=list, max_length=50)
    schedule: OpeningHours = Field(default_factory=OpeningHours)
    contact: OfferContact = Field(default_factory=OfferContact)
    required_fields: Annotated[list[FieldPath], AfterValidator(_unique)] = Field(
        default_factory=list,
        max_length=64,
        description="Profile paths (or sections) a referral shares by default.",
    )
    capacity: int | None = Field(default=None, ge=0, le=1_000_000)
    status: OfferStatus = Field(
        default="draft", description="Defaults to `draft`: nothing is public until published."
    )
    valid_from: date | None = None
    valid_until: date | None = None

    @model_validator(mode="after")
    def _valid_range(self) -> OfferCreate:
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until must not be before valid_from")
        return self


OfferUpdate = OfferCreate  # PUT replaces the whole document: the same shape as POST.


class Offer(BaseModel):
    """An offer as the API answers it."""

    id: uuid.UUID
    organisation: OrganisationRef
    title: str
    summary: str
    description: str
    category: Category
    tags: list[str]
    eligibility: Eligibility
    delivery: Delivery
    locations: list[Location]
    schedule: OpeningHours
    contact: OfferContact
    required_fields: list[str]
    capacity: int | None
    full: bool = Field(description="Whether `capacity`, when set, is taken up by active referrals.")
    status: OfferStatus
    valid_from: date | None
    valid_until: date | None
    version: int
    created_at: datetime
    updated_at: datetime


class OfferPage(BaseModel):
    items: list[Offer]
    next_cursor: str | None


class OfferMatch(BaseModel):
    offer: Offer
    score: float = Field(
        description="Points behind the order, never higher than the item before it: 1000 "
        "when it opens within the window, 100 when not full, 10 per level of your need in "
        "its pathway, up to 9 for how soon it opens."
    )
    reasons: list[str] = Field(description="Why it is listed, in plain words.")
    next_open_at: datetime | None = Field(
        description="The first time at or after the release you can be there while it is "
        "open with 30 minutes left (UTC); null when it has no set hours."
    )


class OfferRef(BaseModel):
    id: uuid.UUID
    title: str


class OfferExclusion(BaseModel):
    offer: OfferRef
    reasons: list[str] = Field(description="Why you cannot use it, in plain words.")


class OfferMatchPage(BaseModel):
    items: list[OfferMatch]
    next_cursor: str | None = None
    excluded: list[OfferExclusion] | None = Field(
        default=None,
        description="With `?explain=true` only: up to 20 offers in categories you need that "
        "you are not eligible for, and why.",
    )
