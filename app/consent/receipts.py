"""Consent receipts: a compact JWS over a JSON record of the grant.

The payload carries what API.md §3 names (``grant_id``, ``sub``, ``recipient``,
``fields``, ``purpose``, ``granted_at``, ``expires_at``, ``policy_version``,
``jurisdiction``, ``iss``, ``iat``) and, to read as an ISO/IEC TS 27560 consent record
and a Kantara Consent Receipt v1.1 do, the receipt ``version``, the ``consent_type``
(``explicit`` or ``expressed``), the ``sensitive`` leaves it reaches, the
``pii_controller`` and the ``processing`` (purpose, fields, recipient, expiry). It is
signed with the service's current key and verifies with the JWKS
(``/.well-known/jwks.json``), so a leaver can prove what they agreed to.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from app.consent.catalogue import FIELDS_BY_PATH, JURISDICTION, POLICY_VERSION, sensitive_leaves

RECEIPT_VERSION = "onward-consent-receipt/1 (Kantara CR v1.1, ISO/IEC TS 27560)"


RECEIPT_TYPE = "consent-receipt+jwt"


class ReceiptSigner(Protocol):
    # Read-only members: the frozen ReceiptIssuer satisfies them (settable ones it would not).
    @property
    def issuer(self) -> str: ...
    @property
    def controller(self) -> dict[str, str]: ...
    @property
    def policy_url(self) -> str: ...

    def sign_receipt(self, payload: dict[str, Any]) -> str: ...


class DocumentSigner(Protocol):
    issuer: str

    def sign_document(self, payload: dict[str, Any], *, typ: str) -> str: ...


@dataclass(frozen=True)
class ReceiptIssuer:
    """Signs consent and revocation receipts: a compact JWS with JOSE ``typ``
    ``consent-receipt+jwt``, by the service key, naming the data controller."""

    signer: DocumentSigner
    controller: dict[str, str]
    policy_url: str

    @property
    def issuer(self) -> str:
        return self.signer.issuer

    def sign_receipt(self, payload: dict[str, Any]) -> str:
        return self.signer.sign_document(payload, typ=RECEIPT_TYPE)


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def receipt_payload(
    *,
    grant_id: uuid.UUID,
    profile_id: uuid.UUID,
    recipient_id: uuid.UUID,
    recipient_name: str,
    fields: list[str],
    purpose: str,
    explicit: bool,
    granted_at: datetime,
    expires_at: datetime,
    issuer: str,
    collection_method: str = "api",
    assisted_by: dict[str, str] | None = None,
    controller: dict[str, str] | None = None,
    policy_url: str | None = None,
) -> dict[str, Any]:
    recipient = {"id": str(recipient_id), "name": recipient_name}
    sensitive = sensitive_leaves(fields)
    payload: dict[str, Any] = {
        "version": RECEIPT_VERSION,
        "grant_id": str(grant_id),
        "sub": str(profile_id),
        "recipient": recipient,
        "fields": list(fields),
        "purpose": purpose,
        "granted_at": rfc3339(granted_at),
        "expires_at": rfc3339(expires_at),
        "policy_version": POLICY_VERSION,
        "jurisdiction": JURISDICTION,
        "iss": issuer,
        "iat": int(granted_at.timestamp()),
        "consent_type": "explicit" if explicit else "expressed",
        # How the decision was made (API.md §8): api, web, assisted or referral.
        "collection_method": collection_method,
        "sensitive": [
            {"path": path, "category": FIELDS_BY_PATH[path].sensitivity} for path in sensitive
        ],
        # Kantara consent receipt: the data controller and the privacy notice.
        "controller": controller or {"name": "Onward", "contact": issuer},
        "policy_url": policy_url or issuer,
        "pii_controller": {"name": "Onward", "url": issuer},
        "processing": {
            "purpose": purpose,
            "fields": list(fields),
            "recipient": recipient,
            "until": rfc3339(expires_at),
            "withdrawal": "POST /v1/me/consents/{id}/revoke, effective at once",
        },
    }
    if assisted_by is not None:
        # Who helped the leaver decide (API.md §8): a name and an organisation, as typed.
        payload["assisted_by"] = {
            "name": assisted_by["name"],
            "organisation": assisted_by.get("organisation", ""),
        }
    return payload


def revocation_payload(
    *,
    grant_id: uuid.UUID,
    profile_id: uuid.UUID,
    recipient_id: uuid.UUID,
    recipient_name: str,
    revoked_at: datetime,
    issuer: str,
    controller: dict[str, str],
    policy_url: str,
    collection_method: str = "api",
    assisted_by: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The record that the leaver stopped sharing (API.md §3 ``revocation_receipt``)."""
    payload: dict[str, Any] = {
        "version": RECEIPT_VERSION,
        "grant_id": str(grant_id),
        "sub": str(profile_id),
        "recipient": {"id": str(recipient_id), "name": recipient_name},
        "revoked_at": rfc3339(revoked_at),
        "iss": issuer,
        "iat": int(revoked_at.timestamp()),
        "controller": controller,
        "policy_url": policy_url,
        "collection_method": collection_method,
    }
    if assisted_by is not None:
        payload["assisted_by"] = {
            "name": assisted_by["name"],
            "organisation": assisted_by.get("organisation", ""),
        }
    return payload


def sign_receipt(signer: ReceiptSigner, payload: dict[str, Any]) -> str:
    return signer.sign_receipt(payload)
