"""The scope vocabulary (API.md §1), defined in ``app.vocabulary`` (the tables constrain it
too) and re-exported here for the auth code."""

from __future__ import annotations

from app.vocabulary import (
    ADMIN,
    ALL_SCOPES,
    CLIENT_SCOPES,
    OFFERS_WRITE,
    ORGANISATION_KINDS,
    PROFILES_CREATE,
    PROFILES_READ,
    REFERRALS_READ,
    REFERRALS_WRITE,
    SCOPE_DESCRIPTIONS,
    SELF,
    WEBHOOKS_MANAGE,
)

__all__ = [
    "ADMIN",
    "ALL_SCOPES",
    "CLIENT_SCOPES",
    "OFFERS_WRITE",
    "ORGANISATION_KINDS",
    "PROFILES_CREATE",
    "PROFILES_READ",
    "REFERRALS_READ",
    "REFERRALS_WRITE",
    "SCOPE_DESCRIPTIONS",
    "SELF",
    "WEBHOOKS_MANAGE",
]
