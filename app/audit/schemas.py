"""Response shapes of the access log (API.md §3)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from app.consent.schemas import OrganisationRef


class AccessEventView(BaseModel):
    id: uuid.UUID
    at: datetime
    action: str
    organisation: OrganisationRef | None
    client_id: str | None
    fields: list[str]
    grant_ids: list[uuid.UUID]
    seal: str | None = Field(
        description="The event's SHA-256 hash-chain seal once sealed (within about 10 s; "
        "`onward verify-log` checks the chain), else null."
    )


class AccessLogPage(BaseModel):
    items: list[AccessEventView]
    next_cursor: str | None
