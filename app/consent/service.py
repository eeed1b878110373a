"""Granting, listing and revoking consent. The leaver's grants are reached only through
``consent.repository``, whose every grant statement is scoped to the calling leaver's
profile."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.consent import repository
from app.consent.catalogue import normalise_paths, sensitive_paths
from app.consent.cuts import refresh_cuts
from app.consent.receipts import ReceiptSigner, receipt_payload, revocation_payload
from app.errors import ExplicitConsentRequired, NotFound, ValidationFailed
from app.models.base import utcnow
from app.pagination import page_of

DEFAULT_TERM = timedelta(days=365)
MAX_TERM = timedelta(days=730)


def grant_status(revoked_at: datetime | None, expires_at: datetime, now: datetime) -> str:
    if revoked_at is not None:
        return "revoked"
    return "expired" if expires_at <= now else "active"


def grant_view(grant: Any, organisation_name: str, now: datetime) -> dict[str, Any]:
    """The API's view of a grant (a row of ``consent_grants``)."""
    return {
        "id": grant.id,
        "organisation": {"id": grant.organisation_id, "name": organisation_name},
        "fields": list(grant.fields),
        "purpose": grant.purpose,
        "status": grant_status(grant.revoked_at, grant.expires_at, now),
        "explicit": grant.explicit,
        "granted_at": grant.granted_at,
        "expires_at": grant.expires_at,
        "revoked_at": grant.revoked_at,
        "receipt": grant.receipt,
        "revocation_receipt": getattr(grant, "revocation_receipt", None),
    }


def require_explicit(fields: list[str], loc: tuple[str, ...] = ("body",)) -> None:
    """Refuse, naming each path that needs it, when sensitive paths lack explicit consent.

    One ``errors`` entry per such path, located at its index in the request's ``fields``
    (as given, before de-duplication, so the index points at what the client sent).
    """
    needing = sensitive_paths(fields)
    if needing:
        raise ExplicitConsentRequired(
            "These fields include special-category or criminal-offence information: "
            'sharing them needs "explicit": true.',
            errors=[
                {
                    "loc": [*loc, "fields", index],
                    "msg": f"{path} is special-category or criminal-offence information: "
                    'sharing it needs "explicit": true',
                }
                for index, path in needing
            ],
        )


async def grant_consent(
    session: AsyncSession,
    signer: ReceiptSigner,
    *,
    profile_id: uuid.UUID,
    organisation_id: uuid.UUID,
    fields: list[str],
    purpose: str,
    expires_at: datetime | None = None,
    explicit: bool = False,
    loc: tuple[str, ...] = ("body",),
    collection_method: str = "api",
    assisted_by: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Record a grant and its signed receipt. ``fields`` and ``purpose`` are already known
    to the catalogue (the request model checks them); here: expiry, the explicit-consent
    rule and the recipient."""
    now = utcnow()
    paths = normalise_paths(fields)
    if expires_at is None:
        expires_at = now + DEFAULT_TERM
    elif expires_at <= now:
        raise ValidationFailed("expires_at must be in the future", loc=[*loc, "expires_at"])
    elif expires_at > now + MAX_TERM:
        raise ValidationFailed(
            "expires_at may be at most 730 days from now", loc=[*loc, "expires_at"]
        )
    if not explicit:
        require_explicit(fields, loc)
    # The profile's lock first, before the grant and its cut (see consent.cuts).
    await repository.lock_profile(session, profile_id)
    found = await repository.recipient(
        session, profile_id=profile_id, organisation_id=organisation_id
    )
    if not found.profile_exists:
        raise NotFound("No such profile")
    if found.name is None:
        raise ValidationFailed("No such organisation", loc=[*loc, "organisation_id"])
    name: str = found.name
    grant_id = uuid.uuid4()
    payload = receipt_payload(
        grant_id=grant_id,
        profile_id=profile_id,
        recipient_id=organisation_id,
        recipient_name=name,
        fields=paths,
        purpose=purpose,
        explicit=explicit,
        granted_at=now,
        expires_at=expires_at,
        issuer=signer.issuer,
        collection_method=collection_method,
        assisted_by=assisted_by,
        controller=signer.controller,
        policy_url=signer.policy_url,
    )
    grant = await repository.insert_grant(
        session,
        id=grant_id,
        profile_id=profile_id,
        organisation_id=organisation_id,
        fields=paths,
        purpose=purpose,
        explicit=explicit,
        granted_at=now,
        expires_at=expires_at,
        receipt=signer.sign_receipt(payload),
    )
    await refresh_cuts(session, profile_id, [organisation_id], now=now)
    return grant_view(grant, name, now)


async def list_grants(
    session: AsyncSession,
    *,
    profile_id: uuid.UUID,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """The leaver's grants, newest first (granted_at, then id), optionally by status."""
    now = utcnow()
    rows = await repository.page_of_grants(
        session, profile_id=profile_id, status=status, now=now, limit=limit, cursor=cursor
    )
    page, next_cursor = page_of(rows, limit, lambda r: (r.granted_at, r.id))
    return [grant_view(row, row.name, now) for row in page], next_cursor


async def revoke_grant(
    session: AsyncSession,
    signer: ReceiptSigner,
    *,
    profile_id: uuid.UUID,
    grant_id: uuid.UUID,
    collection_method: str = "api",
    assisted_by: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Revoke at once, with a signed revocation receipt (idempotent: a second call keeps
    the first ``revoked_at`` and receipt).

    Committed with the request: every replica's next partner read meets the refreshed cut
    (and the trigger-marked stale one, were the refresh skipped), so nothing more is
    disclosed under it. Another leaver's grant is NotFound, like a missing one.
    """
    now = utcnow()
    await repository.lock_profile(session, profile_id)
    found = await repository.grant_to_revoke(session, profile_id=profile_id, grant_id=grant_id)
    if found is None:
        raise NotFound("No such consent grant")
    receipt = None
    if found.revoked_at is None:
        receipt = signer.sign_receipt(
            revocation_payload(
                grant_id=found.id,
                profile_id=profile_id,
                recipient_id=found.organisation_id,
                recipient_name=found.name,
                revoked_at=now,
                issuer=signer.issuer,
                controller=signer.controller,
                policy_url=signer.policy_url,
                collection_method=collection_method,
                assisted_by=assisted_by,
            )
        )
    row = await repository.revoke(session, grant_id=grant_id, now=now, receipt=receipt)
    await refresh_cuts(session, profile_id, [row.organisation_id], now=now)
    return grant_view(row, row.name, now)
