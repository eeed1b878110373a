"""Response shapes of the change feed and webhooks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas import StrictRequest


class ProfileChangeItem(BaseModel):
    id: uuid.UUID
    at: datetime = Field(description="When what you can see changed.")
    type: Literal["shared", "updated", "unshared"]
    profile_id: uuid.UUID


class ProfileChangePage(BaseModel):
    items: list[ProfileChangeItem]
    next_cursor: str | None = Field(
        description="Poll again from here; the cursor you sent when nothing new has settled."
    )


WebhookEvent = Literal[
    "profile.shared",
    "profile.updated",
    "profile.unshared",
    "referral.created",
    "referral.withdrawn",
    "profile.erased",
]


class WebhookCreate(StrictRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://example.org/onward-webhooks",
                    "events": ["profile.shared", "profile.updated", "profile.unshared"],
                    "description": "Case management sync",
                }
            ]
        },
    )

    url: str = Field(
        min_length=1,
        max_length=2000,
        description="Where to POST events: an `https` URL whose host resolves to public "
        "internet addresses only (no loopback, private, link-local, shared or cloud "
        "metadata addresses). Redirects are never followed.",
    )
    events: list[WebhookEvent] = Field(
        min_length=1, max_length=6, description="The events to receive (at least one)."
    )
    description: str | None = Field(
        default=None, max_length=500, description="Your own note about this endpoint."
    )


class Webhook(BaseModel):
    id: uuid.UUID
    url: str
    events: list[WebhookEvent]
    description: str | None
    active: bool = Field(
        description="False once disabled: after three days in which every delivery attempt "
        "failed. A disabled webhook receives nothing; delete it and register it again."
    )
    disabled_reason: str | None = Field(description="Why it was disabled; null while active.")
    created_at: datetime


class WebhookCreated(Webhook):
    secret: str = Field(
        description="The signing secret (`whsec_…`), shown this once: keep it safe now, and "
        "give it to your `standardwebhooks` verifier."
    )


class WebhookSecret(BaseModel):
    id: uuid.UUID
    secret: str = Field(description="The new signing secret, shown this once.")


class WebhookPage(BaseModel):
    """Your organisation's webhooks, newest first."""

    items: list[Webhook]
    next_cursor: str | None


class WebhookAttempt(BaseModel):
    id: uuid.UUID
    message_id: uuid.UUID = Field(
        description="The delivery's `webhook-id` header: the same on every retry of one event."
    )
    type: WebhookEvent
    attempted_at: datetime
    status_code: int | None = Field(
        description="Your endpoint's HTTP status; null when no answer came."
    )
    outcome: Literal["delivered", "http_error", "timeout", "connection_error", "refused"] = Field(
        description="`delivered` (a 2xx answer); `http_error` (any other status, redirects "
        "included); `timeout` (no answer within 10 s); `connection_error` (no connection "
        "or TLS failed); `refused` (the URL no longer resolves to public addresses)."
    )


class WebhookAttemptPage(BaseModel):
    """Delivery attempts, newest first."""

    items: list[WebhookAttempt]
    next_cursor: str | None
