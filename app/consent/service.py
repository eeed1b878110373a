"""Granting, listing and revoking consent. The leaver's grants are reached only through
:func:`_own_grants`, which scopes every statement to the calling leaver's profile."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.consent.catalogue import normalise_paths, sensitive_paths
from app.consent.cuts import lock_profile, refresh_cuts
from app.consent.receipts import ReceiptSigner, receipt_payload
from app.errors import ExplicitConsentRequired, NotFound, ValidationFailed
from app.models.base import utcnow
from app.models.identity import Organisation
from app.models.profiles import ConsentGrant
from app.pagination import newest_first, page_of

DEFAULT_TERM = timedelta(days=365)
MAX_TERM = timedelta(days=730)


def grant_status(revoked_at: datetime | None, expires_at: datetime, now: datetime) -> str:
    if revoked_at is not None:
        return "revoked"
    return "expired" if expires_at <= now else "active"


def grant_view(grant: Any, organisation_name: str, now: datetime) -> dict[str, Any]:
    """The API's view of a grant (a ConsentGrant or a row with the same columns)."""
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
    }


def _own_grants(profile_id: uuid.UUID) -> Select[ConsentGrant, str]:
    """The one choke point: a leaver's grants, with the recipient's name."""
    return (
        select(ConsentGrant, Organisation.name)
        .join(Organisation, Organisation.id == ConsentGrant.organisation_id)
        .where(ConsentGrant.profile_id == profile_id)
    )


# The recipient's name, and whether the leaver's profile still exists, in one trip.
_RECIPIENT = text(
    "SELECT (SELECT name FROM organisations WHERE id = :organisation_id) AS name, "
    "EXISTS (SELECT 1 FROM profiles WHERE id = :profile_id) AS profile_exists"
)


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
    await lock_profile(session, profile_id)
    found = (
        await session.execute(
            _RECIPIENT, {"organisation_id": organisation_id, "profile_id": profile_id}
        )
    ).one()
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
    )
    grant = ConsentGrant(
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
    session.add(grant)
    await session.flush()
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
    query = _own_grants(profile_id)
    if status == "active":
        query = query.where(ConsentGrant.revoked_at.is_(None), ConsentGrant.expires_at > now)
    elif status == "revoked":
        query = query.where(ConsentGrant.revoked_at.is_not(None))
    elif status == "expired":
        query = query.where(ConsentGrant.revoked_at.is_(None), ConsentGrant.expires_at <= now)
    order = (ConsentGrant.granted_at, ConsentGrant.id)
    query = newest_first(query, order, limit=limit, cursor=cursor)
    rows, next_cursor = page_of(
        (await session.execute(query)).all(), limit, lambda r: (r[0].granted_at, r[0].id)
    )
    return [grant_view(grant, name, now) for grant, name in rows], next_cursor


_REVOKE = text(
    """
    UPDATE consent_grants AS g
       SET revoked_at = coalesce(g.revoked_at, :now)
      FROM organisations AS o
     WHERE g.id = :grant_id AND g.profile_id = :profile_id AND o.id = g.organisation_id
 RETURNING g.id, g.organisation_id, g.fields, g.purpose, g.explicit, g.granted_at,
           g.expires_at, g.revoked_at, g.receipt, o.name
    """
)


async def revoke_grant(
    session: AsyncSession, *, profile_id: uuid.UUID, grant_id: uuid.UUID
) -> dict[str, Any]:
    """Revoke at once (idempotent: a second call keeps the first ``revoked_at``).

    One UPDATE, committed with the request: every replica's next partner read runs its
    own statement against the committed row, so nothing more is disclosed under it.
    Another leaver's grant is NotFound, like a missing one.
    """
    now = utcnow()
    await lock_profile(session, profile_id)
    row = (
        await session.execute(_REVOKE, {"now": now, "grant_id": grant_id, "profile_id": profile_id})
    ).one_or_none()
    if row is None:
        raise NotFound("No such consent grant")
    await refresh_cuts(session, profile_id, [row.organisation_id], now=now)
    return grant_view(row, row.name, now)
