"""Erasure (API.md §10, UK GDPR Article 17): the leaver's ``DELETE /v1/me``.

One transaction, under the profile's row lock, so a concurrent grant, referral, patch or
read either happens wholly before (and is undone here) or meets the erased profile:

1. every open referral is withdrawn (``referral.withdrawn`` to its provider) and every
   active grant revoked, each with a signed revocation receipt; the stored disclosure cuts
   are refreshed as they go (``unshared`` feed items, ``profile.unshared`` webhooks);
2. ``profile.erased`` is queued for every organisation that had an active grant then;
3. the profile's data becomes ``{}``, its PIN hash null, ``erased_at`` is set; progress
   readings are deleted; the leaver's referral messages and the providers' notes to them
   are nulled; browser sessions and unused authorization codes are deleted;
4. every organisation's cut is recomputed from the emptied profile (so a cut left behind
   by an expired grant holds nothing either);
5. a ``profile.erased`` access event is appended and an erasure receipt signed.

What is kept, and why (docs/security.md "Erasure"): the profile row with its id and
reference (the id is what the kept records point at; the reference is never issued to
anyone else), the access log (the accountability record: ids, paths of fields, times —
never values), the grants (ids, organisation, field *paths*, purpose, times and the
signed receipts, which hold paths, never values) and the providers' referrals (offer,
status history with times and who moved it; no message, no notes, no profile data).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.repository import insert_leaver_event
from app.auth.principal import LEAVER_CLIENT_ID, Principal
from app.consent.cuts import refresh_cuts
from app.consent.receipts import RECEIPT_VERSION, ReceiptSigner, rfc3339
from app.consent.service import revoke_grant
from app.errors import NotFound
from app.etags import IfMatch
from app.models.base import utcnow
from app.profiles import repository
from app.referrals.service import withdraw_referral
from app.referrals.status import OPEN
from app.webhooks.outbox import enqueue

PROFILE_ERASED = "profile.erased"
ERASURE_RECEIPT = "erasure"
STALE = "The profile changed since you read it; read it again and send its new ETag"


def erasure_payload(
    *,
    profile_id: uuid.UUID,
    erased_at: datetime,
    signer: ReceiptSigner,
    revoked_grants: list[uuid.UUID],
    withdrawn_referrals: list[uuid.UUID],
) -> dict[str, Any]:
    """The erasure receipt's claims: who was erased, when, by whom, and what it ended."""
    return {
        "type": ERASURE_RECEIPT,
        "version": RECEIPT_VERSION,
        "sub": str(profile_id),
        "erased_at": rfc3339(erased_at),
        "iss": signer.issuer,
        "iat": int(erased_at.timestamp()),
        "controller": signer.controller,
        "policy_url": signer.policy_url,
        "revoked_grants": [str(g) for g in revoked_grants],
        "withdrawn_referrals": [str(r) for r in withdrawn_referrals],
    }


async def erase_profile(
    session: AsyncSession,
    signer: ReceiptSigner,
    principal: Principal,
    *,
    if_match: IfMatch,
) -> dict[str, Any]:
    """Erase the calling leaver's profile (see the module); NotFound when it is gone or
    already erased, 412 when ``if_match`` names another version. Flushes only: the request
    commits."""
    profile_id = principal.profile_id
    found = await repository.lock_for_erasure(session, profile_id)
    if found is None or found.erased_at is not None:
        raise NotFound("No such profile")
    if_match.check(found.version, STALE)
    now = utcnow()

    # Who had an active grant at this moment: each is told profile.erased.
    active = await repository.active_grants(session, profile_id, now)
    organisations = list(dict.fromkeys(g.organisation_id for g in active))

    open_referrals = await repository.referral_ids_in(session, profile_id, sorted(OPEN))
    withdrawn: list[uuid.UUID] = []
    for referral_id in open_referrals:
        await withdraw_referral(session, signer, principal, referral_id)
        withdrawn.append(referral_id)

    revoked: list[dict[str, Any]] = []
    for grant in active:
        # A grant a withdrawal just revoked keeps that revocation and its receipt.
        view = await revoke_grant(session, signer, profile_id=profile_id, grant_id=grant.id)
        revoked.append({"id": view["id"], "revocation_receipt": view["revocation_receipt"]})

    for organisation_id in organisations:
        await enqueue(session, organisation_id, PROFILE_ERASED, {"profile_id": profile_id}, at=now)

    await repository.empty_profile(session, profile_id, now)
    await repository.forget_leaver_content(session, profile_id)
    # Every organisation's cut from the emptied profile: nothing is left to serve.
    await refresh_cuts(session, profile_id, now=now)
    await insert_leaver_event(
        session, profile_id=profile_id, client_id=LEAVER_CLIENT_ID, action=PROFILE_ERASED, at=now
    )
    receipt = signer.sign_receipt(
        erasure_payload(
            profile_id=profile_id,
            erased_at=now,
            signer=signer,
            revoked_grants=[g["id"] for g in revoked],
            withdrawn_referrals=withdrawn,
        )
    )
    return {
        "erased_at": now,
        "receipt": receipt,
        "revoked_grants": revoked,
        "withdrawn_referrals": withdrawn,
    }
