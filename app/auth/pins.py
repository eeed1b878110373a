"""The leaver's PIN: rules, Argon2id hashing off the event loop, constant-shape checks.

A PIN is 6–12 digits and must not be on the block-list (a digit repeated, a run up or
down, and the most common PINs). Hashing and verifying take tens of milliseconds of CPU,
so they run in a worker thread, never on the event loop. Error messages never contain
the PIN.
"""

from __future__ import annotations

import asyncio
import re
from itertools import pairwise

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.errors import ValidationFailed

PIN_PATTERN = re.compile(r"^[0-9]{6,12}$")
DIGITS = "0123456789"

# Common PINs beyond the repeated digits and runs that are_trivial() catches.
COMMON_PINS = frozenset(
    {
        "121212",
        "112233",
        "123123",
        "111222",
        "101010",
        "131313",
        "696969",
        "159753",
        "147258",
        "258369",
        "123321",
        "654456",
        "100000",
        "200000",
        "999000",
        "000111",
        "102030",
        "112211",
        "123654",
        "789456",
        "456789",
        "147852",
        "852456",
        "010203",
        "11223344",
        "12121212",
        "12344321",
        "19871987",
        "12341234",
        "11112222",
        "12301230",
    }
)

# Argon2id (RFC 9106's second recommended option, lighter on memory for a 2-core box).
_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


def is_trivial(pin: str) -> bool:
    """One digit repeated, or a run up or down (wrapping, as 890123 or 321098)."""
    if len(set(pin)) == 1:
        return True
    steps = {(int(b) - int(a)) % 10 for a, b in pairwise(pin)}
    return steps in ({1}, {9})


def pin_problem(pin: str) -> str | None:
    """Why a PIN is refused, in words that never repeat it; None when it is acceptable."""
    if not PIN_PATTERN.fullmatch(pin):
        return "The PIN must be 6 to 12 digits"
    if is_trivial(pin) or pin in COMMON_PINS:
        return "The PIN is too easy to guess: avoid repeated digits, runs and common PINs"
    return None


def validate_pin(pin: str, loc: tuple[str, ...] = ("body", "pin")) -> None:
    reason = pin_problem(pin)
    if reason is not None:
        raise ValidationFailed(reason, loc=list(loc))


def _hash(pin: str) -> str:
    return _hasher.hash(pin)


def _verify(stored: str, pin: str) -> bool:
    try:
        return _hasher.verify(stored, pin)
    except (VerificationError, InvalidHashError):
        return False


async def hash_pin(pin: str) -> str:
    return await asyncio.to_thread(_hash, pin)


async def verify_pin(stored_hash: str, pin: str) -> bool:
    return await asyncio.to_thread(_verify, stored_hash, pin)


# Verified against when the reference is unknown, so a wrong reference costs the same
# time as a wrong PIN and the two cannot be told apart.
DUMMY_HASH = _hasher.hash("unused-dummy-pin-for-timing")
