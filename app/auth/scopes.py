"""The scope vocabulary (API.md §1)."""

from __future__ import annotations

from typing import Final

ADMIN: Final = "admin"
OFFERS_WRITE: Final = "offers:write"
PROFILES_CREATE: Final = "profiles:create"
PROFILES_READ: Final = "profiles:read"
REFERRALS_READ: Final = "referrals:read"
REFERRALS_WRITE: Final = "referrals:write"
WEBHOOKS_MANAGE: Final = "webhooks:manage"
SELF: Final = "self"

ALL_SCOPES: Final = (
    ADMIN,
    OFFERS_WRITE,
    PROFILES_CREATE,
    PROFILES_READ,
    REFERRALS_READ,
    REFERRALS_WRITE,
    WEBHOOKS_MANAGE,
    SELF,
)
# `self` is only ever in a leaver's token; a client can hold any of the others.
CLIENT_SCOPES: Final = tuple(s for s in ALL_SCOPES if s != SELF)

SCOPE_DESCRIPTIONS: Final = {
    ADMIN: "Manage organisations and clients",
    OFFERS_WRITE: "Publish and manage your organisation's offers",
    PROFILES_CREATE: "Create a leaver's profile (prison kiosk)",
    PROFILES_READ: "Read the profile fields leavers have consented to share with you",
    REFERRALS_READ: "Read referrals made to your organisation",
    REFERRALS_WRITE: "Move referrals to your organisation through their statuses",
    WEBHOOKS_MANAGE: "Register and manage your organisation's webhooks",
    SELF: "A leaver's own profile, consents, referrals and access log",
}

ORGANISATION_KINDS: Final = ("provider", "partner", "establishment", "operator")
