"""The vocabularies the tables constrain: defined once, importing nothing.

``models/`` imports no domain package (DESIGN.md), yet its CHECK constraints must name the
same values the domains validate. So the words live here, and both sides read them: the
scopes and organisation kinds (``auth.scopes`` re-exports them), offer categories and
statuses (``offers.schemas``), referral statuses (``referrals.status``).
"""

from __future__ import annotations

from typing import Final, Literal, get_args

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

Category = Literal[
    "accommodation",
    "attitudes_behaviour",
    "children_families",
    "drugs_alcohol",
    "education_work",
    "finance_id",
    "health",
    "wellbeing",
    "practical",
]
OfferStatus = Literal["draft", "published", "paused", "withdrawn"]
CATEGORIES: tuple[str, ...] = get_args(Category)
OFFER_STATUSES: tuple[str, ...] = get_args(OfferStatus)

ReferralStatus = Literal[
    "pending", "accepted", "declined", "in_progress", "completed", "closed", "withdrawn"
]
REFERRAL_STATUSES: Final = get_args(ReferralStatus)
# Referrals still open: one per leaver per offer (API.md §5).
OPEN_REFERRAL_STATUSES: Final = frozenset({"pending", "accepted", "in_progress"})
# Referrals holding a place against an offer's capacity.
OCCUPYING_REFERRAL_STATUSES: Final = frozenset({"accepted", "in_progress"})

# The ten areas a progress reading scores (POST /v1/me/progress).
ProgressArea = Literal[
    "accommodation",
    "living_skills",
    "mental_health",
    "friends_community",
    "relationships_family",
    "parenting",
    "drugs_alcohol",
    "use_of_time",
    "managing_feelings",
    "crime_free_life",
]
