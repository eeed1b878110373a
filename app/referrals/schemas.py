"""Request and response models for referrals and progress readings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from app import demo_ids
from app.consent.schemas import FieldPath, OrganisationRef
from app.pagination import Page
from app.profiles.schema import ProgressArea
from app.referrals.status import ReferralStatus

Score = Annotated[StrictInt, Field(ge=1, le=10)]


class ProgressCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"readings": {"accommodation": 3, "mental_health": 6}}]},
    )

    readings: dict[ProgressArea, Score] = Field(
        min_length=1,
        description="Scores 1–10 for any of the ten areas (at least one).",
        examples=[{"accommodation": 3, "mental_health": 6}],
    )


class ProgressReading(BaseModel):
    id: UUID
    readings: dict[ProgressArea, int]
    recorded_at: datetime


# Named pages (not ``Page[ProgressReading]``): the OpenAPI component is then
# ``ProgressReadingPage``, a name code generators keep, rather than ``Page_ProgressReading_``.
class ProgressReadingPage(Page[ProgressReading]):
    """Progress readings, newest first."""


class ReferralCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "offer_id": demo_ids.GATE_OFFER_ID,
                    "fields": ["identity.given_name", "contact.phone", "release"],
                    "message": "I get out on Friday and would like someone to meet me.",
                }
            ]
        },
    )

    offer_id: UUID = Field(
        description="A published offer, valid today. The example is a demo offer, "
        '"Meet at the gate and first-day support".'
    )
    fields: list[FieldPath] | None = Field(
        default=None,
        max_length=64,
        description="Leaf paths or section names (GET /v1/consent/fields) to share with the "
        "offer's organisation. Default: the offer's `required_fields`. The leaver may pick a "
        "narrower set, or any other catalogue paths; exactly these are shared, nothing else.",
    )
    message: str | None = Field(
        default=None, max_length=2000, description="A note to the provider, in the leaver's words."
    )
    explicit: bool | None = Field(
        default=None,
        description="Explicit consent, required for special category or criminal offence fields.",
    )


class StatusChange(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"status": "accepted", "note": "We will meet you at the gate on Friday."}]
        },
    )

    status: ReferralStatus
    note: str | None = Field(
        default=None, max_length=2000, description="Shown to the leaver in the referral's history."
    )


class HistoryEntry(BaseModel):
    status: ReferralStatus
    at: datetime
    note: str | None = None


class OfferRef(BaseModel):
    id: UUID
    title: str


class Referral(BaseModel):
    id: UUID
    offer: OfferRef
    organisation: OrganisationRef
    status: ReferralStatus
    grant_id: UUID
    message: str | None = None
    created_at: datetime
    updated_at: datetime
    history: list[HistoryEntry]


class ProviderReferral(Referral):
    profile_id: UUID


class ReferralPage(Page[Referral]):
    """The leaver's referrals, newest first."""


class ProviderReferralPage(Page[ProviderReferral]):
    """Referrals to the caller's organisation, newest first."""
