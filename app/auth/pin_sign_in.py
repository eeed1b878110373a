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

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import pins
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


# One statement per attempt: count it against the reference (issued or not) and read the
# profile's hash. An erased profile (profiles.erasure) is not joined: its reference is
# counted and checked against the dummy hash exactly like one never issued. A slot is
# taken while fewer than :max_attempts are counted and no lock holds, or when the lock
# has run out (the count restarts); the slot that makes :max_attempts sets the lock.
# `refused` says whether this attempt got no slot.
_ATTEMPT = text(
    """
    WITH attempt AS (
        INSERT INTO pin_attempts AS a (reference, failed_attempts, locked_until, refused,
                                       updated_at)
        VALUES (:reference, 1, NULL, false, now())
        ON CONFLICT (reference) DO UPDATE SET
            failed_attempts = CASE
                WHEN a.locked_until <= now() THEN 1
                WHEN a.locked_until IS NULL AND a.failed_attempts < :max_attempts
                    THEN a.failed_attempts + 1
                ELSE a.failed_attempts END,
            locked_until = CASE
                WHEN a.locked_until <= now() THEN NULL
                WHEN a.locked_until IS NULL AND a.failed_attempts + 1 >= :max_attempts
                    THEN now() + make_interval(secs => :lock_seconds)
                ELSE a.locked_until END,
            refused = CASE
                WHEN a.locked_until IS NULL THEN a.failed_attempts >= :max_attempts
                ELSE a.locked_until > now() END,
            updated_at = now()
        RETURNING refused, locked_until
    )
    SELECT attempt.refused,
           CEIL(EXTRACT(EPOCH FROM (attempt.locked_until - now())))::int AS seconds_left,
           p.id, p.pin_hash
      FROM attempt LEFT JOIN profiles AS p
           ON p.reference = :reference AND p.erased_at IS NULL
    """
)
_SUCCEEDED = text("DELETE FROM pin_attempts WHERE reference = :reference")


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
            attempt = (
                await session.execute(
                    _ATTEMPT,
                    {
                        "reference": normalised,
                        "max_attempts": MAX_PIN_ATTEMPTS,
                        "lock_seconds": PIN_LOCK_SECONDS,
                    },
                )
            ).one()
        if attempt.refused:
            left = attempt.seconds_left
            raise ReferenceLocked(max(1, left) if left is not None else PIN_LOCK_SECONDS)
        # An unknown reference: the same Argon2 work as a wrong PIN, and the same answer.
        right = await check.verify(attempt.pin_hash or pins.DUMMY_HASH, pin)

    if not right or attempt.id is None:
        raise WrongReferenceOrPin
    async with sessionmaker() as session, session.begin():
        await session.execute(_SUCCEEDED, {"reference": normalised})
    profile_id: uuid.UUID = attempt.id
    return profile_id
