"""Request and response bodies of the identity endpoints (API.md §1)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app import demo_ids
from app.schemas import StrictRequest

OrganisationKind = Literal["provider", "partner", "establishment", "operator"]
ClientScope = Literal[
    "admin",
    "offers:write",
    "profiles:create",
    "profiles:read",
    "referrals:read",
    "referrals:write",
    "webhooks:manage",
]


# Checked in full by auth.redirect_uris; the bound is declared here for clients of the spec.
RedirectUri = Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class OrganisationCreate(StrictRequest):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Reading Housing Trust", "kind": "provider"}]}
    )

    name: str = Field(min_length=1, max_length=200, examples=["Reading Housing Trust"])
    kind: OrganisationKind


class Organisation(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: OrganisationKind
    active: bool = Field(description="False once an operator disabled it: its clients are refused.")
    created_at: datetime


class OrganisationDisabled(BaseModel):
    id: uuid.UUID
    active: Literal[False] = False


class OrganisationSummary(BaseModel):
    """What anyone may see of an organisation: enough for a leaver to know who it is."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: OrganisationKind


class ClientCreate(StrictRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "organisation_id": demo_ids.PARTNER_ORGANISATION_ID,
                    "name": "Case management system",
                    "scopes": ["profiles:read", "referrals:read"],
                }
            ]
        }
    )

    organisation_id: uuid.UUID = Field(
        description="The example is the demo's partner organisation (`onward serve --demo`)."
    )
    name: str = Field(min_length=1, max_length=200, examples=["Case management system"])
    scopes: list[ClientScope] = Field(
        min_length=1,
        max_length=7,
        description="Any of the client scopes; `self` is only ever in a leaver's token.",
        examples=[["profiles:read", "referrals:read"]],
    )
    redirect_uris: list[RedirectUri] | None = Field(
        default=None,
        max_length=10,
        description="For the authorization code flow (API.md §7): exact URLs a code may be "
        "sent to. `https`, or `http://127.0.0.1:<port>/…` and `http://localhost:<port>/…` "
        "outside production; no fragment, no user information. Compared as exact strings.",
        examples=[["https://case.example.org/onward/callback"]],
    )


class ClientUpdate(StrictRequest):
    model_config = ConfigDict(
        json_schema_extra={
            # The demo partner's own redirect URIs (`onward serve --demo`).
            "examples": [{"redirect_uris": list(demo_ids.PARTNER_REDIRECT_URIS)}]
        }
    )

    redirect_uris: list[RedirectUri] = Field(
        max_length=10,
        description="The client's redirect URIs, replacing the ones it had (same rules as "
        "on creation). An empty list turns the authorization code flow off for the client.",
        examples=[["https://case.example.org/onward/callback"]],
    )


class Client(BaseModel):
    """A client as listed: never its secret."""

    model_config = ConfigDict(from_attributes=True)

    client_id: str
    organisation_id: uuid.UUID
    name: str
    scopes: list[str]
    redirect_uris: list[str] = Field(
        description="Where authorization codes may be sent (API.md §7); empty: nowhere."
    )
    active: bool
    created_at: datetime


class ClientCreated(Client):
    client_secret: str = Field(
        description="Shown this once and stored only as a hash: keep it safe now."
    )


class ClientSecret(BaseModel):
    client_id: str
    client_secret: str = Field(description="The new secret, shown this once.")


class ClientDisabled(BaseModel):
    client_id: str
    active: Literal[False] = False


class OrganisationPage(BaseModel):
    items: list[Organisation]
    next_cursor: str | None


class OrganisationSummaryPage(BaseModel):
    items: list[OrganisationSummary]
    next_cursor: str | None


class ClientPage(BaseModel):
    items: list[Client]
    next_cursor: str | None
