"""The profile document: one strict model per section of API.md §2.

Unknown keys are refused (``extra="forbid"``), every string and list is bounded and
vocabularies are enums. The document is stored normalised in ``profiles.data`` (JSONB):
absent values omitted, empty sections dropped, times in UTC. Its leaves are exactly the
catalogue's (``app/consent/catalogue.py``; a unit test holds the two together).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from app.errors import ValidationFailed, safe_errors
from app.offers.places import ESTABLISHMENT_CODES
from app.schemas import StrictRequest
from app.vocabulary import ProgressArea as ProgressArea

# Every section is strict (app.schemas): unknown keys refused, strings stripped, no NUL.
Strict = StrictRequest


Text40 = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Text100 = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text500 = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Text1000 = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
Text2000 = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
Text4000 = Annotated[str, StringConstraints(min_length=1, max_length=4000)]
Name = Text100
Notes = Text2000


def _not_future(value: date) -> date:
    if value > datetime.now(UTC).date():
        raise ValueError("must not be in the future")
    return value


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00:00-12:00 and the like have no UTC time
        raise ValueError("is out of range once converted to UTC") from None


UtcDateTime = Annotated[AwareDatetime, AfterValidator(_to_utc)]

# The years a release can fall in: matching computes offsets from it and must never fail.
RELEASE_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
RELEASE_LATEST = datetime(2101, 1, 1, tzinfo=UTC)  # exclusive: 2100 is the last year


def _plausible_release(value: datetime) -> datetime:
    if not RELEASE_EARLIEST <= value < RELEASE_LATEST:
        raise ValueError("must be between the years 2000 and 2100")
    return value


ReleaseDateTime = Annotated[UtcDateTime, AfterValidator(_plausible_release)]


class Identity(Strict):
    given_name: Name | None = None
    family_name: Name | None = None
    preferred_name: Name | None = None
    date_of_birth: Annotated[date, AfterValidator(_not_future)] | None = None
    pronouns: Text40 | None = None
    gender: Literal["woman", "man", "non_binary", "other", "prefer_not_to_say"] | None = None


class ProfileContact(Strict):
    phone: (
        Annotated[
            str, StringConstraints(min_length=3, max_length=40, pattern=r"^\+?[0-9 ()\-]{3,40}$")
        ]
        | None
    ) = None
    email: (
        Annotated[
            str,
            StringConstraints(
                max_length=254, pattern=r"^[^@\s<>()\[\],;:\"]{1,64}@[^@\s<>()\[\],;:\"]+\.[^@\s]+$"
            ),
        ]
        | None
    ) = None
    address: Text500 | None = None
    preferred_method: Literal["phone", "email", "post", "via_worker"] | None = None
    best_times: Text200 | None = None


AreaCode = Annotated[str, StringConstraints(pattern=r"^[EWSN][0-9]{8}$")]


def _known_establishment(code: str) -> str:
    if code not in ESTABLISHMENT_CODES:
        raise ValueError(
            "must be the three-letter HMPPS code of a prison we know, such as BLI (Bullingdon)"
        )
    return code


def _unique_codes(codes: list[str]) -> list[str]:
    if len(set(codes)) != len(codes):
        raise ValueError("codes must not repeat")
    return codes


PhoneNumber = Annotated[
    str, StringConstraints(min_length=3, max_length=40, pattern=r"^\+?[0-9 ()\-]{3,40}$")
]


class Release(Strict):
    establishment: Text200 | None = None
    establishment_code: (
        Annotated[
            str,
            StringConstraints(max_length=3),
            Field(json_schema_extra={"enum": list(ESTABLISHMENT_CODES)}),
            AfterValidator(_known_establishment),
        ]
        | None
    ) = Field(None, description="The prison's three-letter HMPPS code, e.g. BLI (HMP Bullingdon).")
    expected_at: ReleaseDateTime | None = Field(
        None,
        description="When the leaver is expected to walk out: a date-time with offset, "
        "in the years 2000 to 2100.",
    )
    area: Annotated[str, StringConstraints(pattern=r"^[EWSN][0-9]{8}$")] | None = Field(
        None, description="ONS local authority code, e.g. E06000038 (Reading)."
    )
    local_connections: (
        Annotated[list[AreaCode], Field(max_length=20), AfterValidator(_unique_codes)] | None
    ) = Field(
        None,
        description="ONS codes of the areas where the leaver has a local connection (lived, "
        "worked or has family); need not include `area`. An empty list means none; absent "
        "means not known.",
    )
    on_licence: bool | None = None
    sentence_months: Annotated[int, Field(ge=0, le=1200)] | None = None


class KeyWorker(Strict):
    """The one named worker the leaver trusts and chooses to be contacted through."""

    name: Name | None = None
    organisation: Text200 | None = None
    phone: PhoneNumber | None = None


class Need(Strict):
    level: Literal["none", "low", "medium", "high"]
    notes: Notes | None = None


class Needs(Strict):
    """The seven HMPPS resettlement pathways (health and drugs/alcohol split out)."""

    accommodation: Need | None = None
    attitudes_behaviour: Need | None = None
    children_families: Need | None = None
    drugs_alcohol: Need | None = Field(None, description="Special category data.")
    education_work: Need | None = None
    finance_id: Need | None = None
    health: Need | None = Field(None, description="Special category data.")


class Preferences(Strict):
    language: (
        Annotated[
            str,
            StringConstraints(max_length=35, pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$"),
        ]
        | None
    ) = Field(None, description="A BCP 47 language tag, e.g. en, cy, pl, pa-Guru.")
    interpreter: bool | None = None
    accessibility: Text1000 | None = None
    worker_gender: Literal["any", "woman", "man"] | None = None


class Story(Strict):
    summary: Text4000 | None = Field(None, description="Special category data.")


class Offence(Strict):
    summary: Text2000 | None = Field(None, description="Criminal offence data.")
    category: Text100 | None = Field(None, description="Criminal offence data.")


class Goal(Strict):
    title: Text200
    category: Text100 | None = None
    status: Literal["not_started", "in_progress", "done"] = "not_started"
    target_date: date | None = None


class Plan(Strict):
    goals: Annotated[list[Goal], Field(max_length=50)] | None = None


class ProfileProgressReading(Strict):
    """`progress.latest`: the newest reading, as POST /v1/me/progress recorded it."""

    id: uuid.UUID
    readings: dict[ProgressArea, Annotated[int, Field(ge=1, le=10)]]
    recorded_at: UtcDateTime


class Progress(Strict):
    model_config = ConfigDict(json_schema_extra={"readOnly": True})

    latest: ProfileProgressReading | None = None


class ProfileData(Strict):
    """The leaver's profile document. Every section and leaf is optional."""

    # Also the example body of PATCH /v1/me (a merge patch of this document).
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"contact": {"phone": "07700 900123"}}]}
    )

    identity: Identity | None = None
    contact: ProfileContact | None = None
    release: Release | None = None
    key_worker: KeyWorker | None = None
    needs: Needs | None = None
    preferences: Preferences | None = None
    story: Story | None = None
    offence: Offence | None = None
    plan: Plan | None = None
    progress: Progress | None = Field(
        None,
        description="Read-only: written when the leaver records progress (POST /v1/me/progress).",
    )


def normalised(model: ProfileData) -> dict[str, Any]:
    """The JSON document to store: absent values omitted, empty sections dropped."""
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    return {section: body for section, body in dumped.items() if body}


def validate_document(document: Any, loc_prefix: tuple[str, ...]) -> dict[str, Any]:
    """Validate a whole document (e.g. after a merge patch); 422 that never echoes input."""
    try:
        return normalised(ProfileData.model_validate(document))
    except ValidationError as exc:
        errors = safe_errors(exc.errors(include_url=False, include_context=False), loc_prefix)
        raise ValidationFailed("The profile is not valid; see errors.", errors=errors) from None


# --- Request and response shapes of the profile endpoints ---------------------------


class ProfileCreate(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "pin": "284913",
                    "data": {
                        "identity": {"given_name": "Sam", "date_of_birth": "1990-06-01"},
                        "contact": {"phone": "07700 900456", "preferred_method": "phone"},
                        "release": {
                            "establishment": "HMP Bullingdon",
                            "expected_at": "2027-03-05T15:30:00Z",
                            "area": "E06000038",
                        },
                        "needs": {"accommodation": {"level": "high"}},
                    },
                }
            ]
        }
    )

    # Checked by app.auth.pins (plain-words 422s); the schema declares the same rule.
    pin: Annotated[str, StringConstraints(max_length=64)] = Field(
        description="6–12 digits, not a common or trivial PIN. Stored only as an Argon2id hash.",
        json_schema_extra={"pattern": "^[0-9]{6,12}$", "minLength": 6, "maxLength": 12},
    )
    data: ProfileData | None = Field(
        None, description="The profile document; absent or null for an empty profile."
    )


class ProfileCreated(BaseModel):
    id: uuid.UUID
    reference: str = Field(description="ONW-XXXX-XXXX (Crockford base32), printed for the leaver.")
    created_at: datetime


class OwnProfile(BaseModel):
    id: uuid.UUID
    reference: str
    data: ProfileData
    version: int
    created_at: datetime
    updated_at: datetime


class PartnerProfile(BaseModel):
    id: uuid.UUID
    data: ProfileData = Field(
        description="Exactly the leaves the caller's organisation's active grants cover and "
        "the profile holds, nested as in the profile; nothing else."
    )
    disclosed_fields: list[str] = Field(description="The leaf paths present in data.")
    grant_ids: list[uuid.UUID] = Field(description="The active grants this read relied on.")
    version: int
    updated_at: datetime


class PartnerProfilePage(BaseModel):
    items: list[PartnerProfile]
    next_cursor: str | None


class ErasedGrant(BaseModel):
    id: uuid.UUID
    revocation_receipt: str | None = Field(
        description="The compact JWS recording that this grant stopped at erasure (null "
        "only for a grant revoked before revocation receipts existed)."
    )


class Erasure(BaseModel):
    erased_at: datetime
    receipt: str = Field(
        description="A compact JWS (JOSE `typ` `consent-receipt+jwt`, verify with the JWKS) "
        'over `{"type": "erasure", "sub", "erased_at", "iss", "iat", "controller", '
        '"policy_url", "revoked_grants", "withdrawn_referrals"}`: your proof of erasure.'
    )
    revoked_grants: list[ErasedGrant] = Field(
        description="The grants that were active and are now revoked, each with its "
        "revocation receipt (keep them: you can no longer sign in to fetch them)."
    )
    withdrawn_referrals: list[uuid.UUID] = Field(
        description="The open referrals that were withdrawn."
    )
