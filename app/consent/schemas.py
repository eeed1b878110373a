"""Request and response shapes for the catalogue and grants (API.md §2, §3)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from app import demo_ids
from app.consent.catalogue import MAX_PATH_LENGTH, PATHS, PURPOSE_CODES
from app.schemas import StrictRequest

GrantStatus = Literal["active", "revoked", "expired"]


def _known_path(value: str) -> str:
    value = value.strip()
    if value not in PATHS:
        raise ValueError("unknown field path; see GET /v1/consent/fields")
    return value


def _known_purpose(value: str) -> str:
    if value not in PURPOSE_CODES:
        raise ValueError("unknown purpose; see GET /v1/consent/purposes")
    return value


FieldPath = Annotated[str, Field(max_length=MAX_PATH_LENGTH), AfterValidator(_known_path)]
PurposeCode = Annotated[
    str,
    Field(max_length=40, json_schema_extra={"enum": list(PURPOSE_CODES)}),
    AfterValidator(_known_purpose),
]


class FieldInfo(BaseModel):
    path: str
    section: str
    label: str
    sensitivity: Literal["standard", "special_category", "criminal_offence"]
    description: str


class PurposeInfo(BaseModel):
    code: str
    label: str
    description: str


class GrantCreate(StrictRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "organisation_id": demo_ids.PARTNER_ORGANISATION_ID,
                    "fields": ["identity.given_name", "contact.phone", "release.expected_at"],
                    "purpose": "case_coordination",
                }
            ]
        },
    )

    organisation_id: uuid.UUID = Field(
        description="Who may read (GET /v1/organisations?q=). The example is the demo's "
        "partner, Thames Valley Probation partner."
    )
    fields: Annotated[list[FieldPath], Field(min_length=1, max_length=64)] = Field(
        description="Leaf paths or section names from GET /v1/consent/fields."
    )
    purpose: PurposeCode
    expires_at: AwareDatetime | None = Field(
        None, description="Default 365 days on; at most 730 days on; not in the past."
    )
    explicit: bool | None = Field(
        None,
        description="Must be true when any path reaches special-category or criminal-offence "
        "data (or a section holding such a leaf).",
    )


class OrganisationRef(BaseModel):
    """Who: an organisation's id and name (grants, offers, referrals, the access log)."""

    id: uuid.UUID
    name: str


class Grant(BaseModel):
    id: uuid.UUID
    organisation: OrganisationRef
    fields: list[str]
    purpose: str
    status: GrantStatus
    explicit: bool
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    receipt: str = Field(
        description="Compact JWS (ES256, `typ: consent-receipt+jwt`) over the consent "
        "record; verify with the JWKS."
    )
    revocation_receipt: str | None = Field(
        default=None,
        description="Once revoked: a compact JWS of the same kind recording when sharing "
        "stopped (`grant_id`, `sub`, `recipient`, `revoked_at`, `iss`, `iat`).",
    )


class GrantPage(BaseModel):
    items: list[Grant]
    next_cursor: str | None
