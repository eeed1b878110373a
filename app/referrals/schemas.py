"""Request and response models for referrals and progress readings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from app import demo_ids
from app.consent.schemas import FieldPath, OrganisationRef
from app.pagination import Page
from app.referrals.status import ReferralStatus
from app.schemas import StrictRequest
from app.vocabulary import ProgressArea

Score = Annotated[StrictInt, Field(ge=1, le=10)]


class ProgressCreate(StrictRequest):
    model_config = ConfigDict(
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


class ReferralCreate(StrictRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    # "Meet at the gate and first-day support" in `serve --demo`.
                    "offer_id": demo_ids.GATE_OFFER_ID,
                    "offer_version": 1,
                    "fields": ["identity.given_name", "contact.phone", "release"],
                    "message": "I get out on Friday and need somewhere to stay.",
                }
            ]
        },
    )

    offer_id: UUID = Field(description="A published offer, valid today.")
    offer_version: StrictInt = Field(
        ge=1,
        le=2**31 - 1,
        description="The offer's `version` the leaver was shown (GET /v1/offers/{id}, or the "
        "offer in GET /v1/me/offers). If the offer has changed since, the answer is 412 and "
        "nothing is created: show the leaver the offer again.",
    )
    fields: list[FieldPath] = Field(
        min_length=1,
        max_length=64,
        description="Leaf paths or section names (GET /v1/consent/fields) the leaver was shown "
        "and agreed to share with the offer's organisation: usually the offer's "
        "`required_fields`, or fewer. Exactly these are shared, nothing else; nothing is "
        "taken from the offer.",
    )
    message: str | None = Field(
        default=None, max_length=2000, description="A note to the provider, in the leaver's words."
    )
    explicit: bool | None = Field(
        default=None,
        description="Explicit consent, required when `fields` reach special category or "
        "criminal offence data.",
    )


class StatusChange(StrictRequest):
    model_config = ConfigDict(
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
