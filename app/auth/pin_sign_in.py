"""The leaver's sign-in with reference and PIN: one rule for the API and the pages.

:func:`verify_leaver_pin` is what the token endpoint's PIN grant (``auth/grants.py``) and
the sign-in page (``pages/``) both call, so they share every defence (see
``auth/grants.py``'s module docstring for the order): the per-address limit, the bounded
pool of PIN checks and the per-reference lock-out, all kept in the database. A reference
locked on one face is locked on the other, on every replica.

It raises plain domain exceptions; each face words them its own way (RFC 6749 JSON on
``/oauth/token``, a page in the browser):

* :class:`~app.auth.throttle.SignInThrottled`: too many attempts from this address (429);
* :class:`PinChecksBusy`: no place to check a PIN right now (503);
* :class:`ReferenceLocked`: five wrong PINs for this reference (429, ``retry_after``);
* :class:`WrongReferenceOrPin`: one answer for an unknown reference and a wrong PIN.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import pins, repository
from app.auth.pins import PinCheckPool, PinChecksBusy
from app.auth.reference import normalise_reference
from app.auth.throttle import SignInThrottled, count_sign_in_attempt

__all__ = [
    "MAX_PIN_ATTEMPTS",
    "PIN_LOCK_SECONDS",
    "PinChecksBusy",
    "ReferenceLocked",
    "SignInLimits",
    "SignInThrottled",
    "WrongReferenceOrPin",
    "verify_leaver_pin",
]

MAX_PIN_ATTEMPTS = 5
PIN_LOCK_SECONDS = 15 * 60


@dataclass(frozen=True)
class SignInLimits:
    """What bounds unauthenticated sign-ins in this process."""

    pins: PinCheckPool
    per_minute: int


class WrongReferenceOrPin(Exception):
    """The reference or the PIN is wrong (which one is never said)."""


class ReferenceLocked(Exception):
    """Too many wrong PINs for this reference: every attempt is refused until the lock ends."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("The reference is locked")
        self.retry_after = retry_after


async def verify_leaver_pin(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    reference: str,
    pin: str,
    client_address: str,
    limits: SignInLimits,
    count_per_address: bool = True,
) -> uuid.UUID:
    """The profile id for a right reference and PIN, or one of the module's exceptions.

    ``reference`` and ``pin`` are what the person typed, both non-empty (the caller says
    so when one is missing, before anything is counted). The counting statements commit in
    short transactions of their own, before Argon2 runs and whatever the answer is.
    """
    if count_per_address:
        await count_sign_in_attempt(sessionmaker, client_address, limits.per_minute)
    normalised = normalise_reference(reference)
    if normalised is None or not pins.PIN_PATTERN.fullmatch(pin):
        # Cannot be anyone's reference or PIN, whoever holds which: refused without a
        # check or a count, and nothing about any profile is revealed by that.
        raise WrongReferenceOrPin

    with limits.pins.admit(client_address) as check:
        async with sessionmaker() as session, session.begin():
            # One INSERT … ON CONFLICT DO UPDATE counts the attempt and reads the hash
            # (repository.count_pin_attempt): at most MAX_PIN_ATTEMPTS get a slot, however
            # many race.
            attempt = await repository.count_pin_attempt(
                session,
                reference=normalised,
                max_attempts=MAX_PIN_ATTEMPTS,
                lock=timedelta(seconds=PIN_LOCK_SECONDS),
            )
        if attempt.refused:
            left = attempt.seconds_left
            raise ReferenceLocked(max(1, left) if left is not None else PIN_LOCK_SECONDS)
        # An unknown reference: the same Argon2 work as a wrong PIN, and the same answer.
        right = await check.verify(attempt.pin_hash or pins.DUMMY_HASH, pin)

    if not right or attempt.id is None:
        raise WrongReferenceOrPin
    async with sessionmaker() as session, session.begin():
        await repository.clear_pin_attempts(session, reference=normalised)
    profile_id: uuid.UUID = attempt.id
    return profile_id
