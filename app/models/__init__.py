"""Every table, in one place, so domains can point at each other without import cycles."""

from app.models.base import Base
from app.models.identity import Client, Organisation, RevokedToken
from app.models.offers import *  # noqa: F403  (filled in by the offers work)
from app.models.profiles import AccessEvent, ConsentGrant, DisclosureCut, Profile, ProfileChange
from app.models.referrals import *  # noqa: F403  (filled in by the referrals work)
from app.models.sign_in import PinAttempts, SignInAttempts
from app.models.webhooks import Webhook, WebhookAttempt, WebhookDelivery

__all__ = [
    "AccessEvent",
    "Base",
    "Client",
    "ConsentGrant",
    "DisclosureCut",
    "Organisation",
    "PinAttempts",
    "Profile",
    "ProfileChange",
    "RevokedToken",
    "SignInAttempts",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]
