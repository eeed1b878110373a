"""Every table, in one place, so domains can point at each other without import cycles."""

from app.models.base import Base
from app.models.identity import Client, Organisation, RevokedToken
from app.models.oauth import AuthorizationCode, AuthorizationRequest
from app.models.offers import *  # noqa: F403  (filled in by the offers work)
from app.models.profiles import (
    AccessEvent,
    AccessEventSeal,
    AccessLogCheckpoint,
    ConsentGrant,
    DisclosureCut,
    Profile,
    ProfileChange,
)
from app.models.referrals import *  # noqa: F403  (filled in by the referrals work)
from app.models.sign_in import PinAttempts, SignInAttempts
from app.models.web_sessions import WebSession
from app.models.webhooks import Webhook, WebhookAttempt, WebhookDelivery

__all__ = [
    "AccessEvent",
    "AccessEventSeal",
    "AccessLogCheckpoint",
    "AuthorizationCode",
    "AuthorizationRequest",
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
    "WebSession",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]
