"""Resetting a leaver's PIN at the kiosk (API.md §1, ``POST /v1/profiles/pin-reset``).

The leaver is present and known to staff. Only a client of the organisation whose client
created the profile (``profiles.created_by_client_id``) may reset it; every other
reference, unknown or another organisation's, is :class:`NotFound`, the same answer.
The new PIN obeys the rules of creation (``pins.validate_pin``) and is stored only as an
Argon2id hash, computed *before* the look-up so that the time taken does not tell a
kiosk whether another organisation's reference exists. The reset clears the reference's
lock and count and appends a ``pin.reset`` access event, which the leaver sees in their
access log, all in the request's transaction.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.log import AccessRecord, record_reads
from app.auth import repository
from app.auth.pins import hash_pin, validate_pin
from app.auth.reference import normalise_reference
from app.errors import NotFound

PIN_RESET = "pin.reset"


def not_yours() -> NotFound:
    return NotFound("No profile created by your organisation has this reference")


async def reset_pin(
    session: AsyncSession,
    *,
    organisation_id: uuid.UUID,
    client_id: str,
    reference: str,
    pin: str,
) -> None:
    """Give the profile with ``reference`` a new PIN, or raise NotFound (see the module)."""
    validate_pin(pin)
    pin_hash = await hash_pin(pin)
    canonical = normalise_reference(reference)
    if canonical is None:
        raise not_yours()
    profile_id = await repository.set_pin_of_organisations_profile(
        session, reference=canonical, organisation_id=organisation_id, pin_hash=pin_hash
    )
    if profile_id is None:
        raise not_yours()
    await repository.clear_pin_attempts(session, reference=canonical)
    await record_reads(
        session,
        organisation_id=organisation_id,
        client_id=client_id,
        records=[AccessRecord(profile_id=profile_id, fields=[], grant_ids=[])],
        action=PIN_RESET,
    )
