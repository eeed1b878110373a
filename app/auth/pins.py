"""The leaver's PIN: rules, Argon2id hashing off the event loop, constant-shape checks.

A PIN is 6–12 digits and must not be on the block-list (a digit repeated, a run up or
down, and the most common PINs). Hashing and verifying take tens of milliseconds of CPU,
so they run in a worker thread, never on the event loop. Error messages never contain
the PIN.

Sign-in checks run in a :class:`PinCheckPool`: a few threads and a short, bounded queue.
Admission is decided before any work (and before the attempt is counted against the
reference): when the pool is full, or the caller's address already holds its share of
it, the answer is :class:`PinChecksBusy` (503, ``Retry-After``) at once rather than a
place in an ever longer queue. So a flood of guesses from one address takes at most its
share of the threads, and a leaver signing in from elsewhere waits behind a few checks
at most, never behind the flood.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
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


class PinChecksBusy(Exception):
    """The PIN-checking pool is full (or this address holds its share): try again soon."""

    retry_after = 1


class PinCheckTicket:
    """A place in the pool, held from admission until its check has really finished.

    A cancelled request (the client went away) does not free its place while its thread
    still runs: the place is released when the thread's work is done, so the bound holds
    on the threads' actual work, not on the requests still waiting for it.
    """

    def __init__(self, pool: PinCheckPool, address: str) -> None:
        self._pool = pool
        self._address = address
        self._job: Future[bool] | None = None
        self._released = False

    async def verify(self, stored_hash: str, pin: str) -> bool:
        if self._job is not None:
            raise RuntimeError("one check per ticket")
        loop = asyncio.get_running_loop()
        self._job = self._pool.executor.submit(_verify, stored_hash, pin)

        def finished(_: Future[bool]) -> None:
            try:
                loop.call_soon_threadsafe(self.release)
            except RuntimeError:  # the loop has closed (shutting down): nothing to count
                pass

        self._job.add_done_callback(finished)
        return await asyncio.wrap_future(self._job)

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._pool.release(self._address)

    def leave(self) -> None:
        """The request is done with its ticket: free the place now, or when its check ends."""
        if self._job is None or self._job.done():
            self.release()


class PinCheckPool:
    """Bounded Argon2 verification: ``workers`` threads, at most ``waiting`` queued, at
    most ``per_address`` places (running or queued) held by one client address.

    Counters are touched only on the event loop's thread (releases from worker threads
    are handed back with ``call_soon_threadsafe``), so they need no lock.
    """

    def __init__(self, *, workers: int, waiting: int, per_address: int) -> None:
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pin-check")
        self.capacity = workers + waiting
        self.per_address = per_address
        self.admitted = 0
        self._by_address: Counter[str] = Counter()

    @classmethod
    def for_this_machine(cls) -> PinCheckPool:
        # Argon2 here uses one core per check (parallelism=1): one thread per core, a queue
        # of a few checks each (a few hundred milliseconds of waiting at most), and a
        # quarter of the places for any one address.
        workers = max(1, min(8, os.cpu_count() or 1))
        waiting = 4 * workers
        return cls(workers=workers, waiting=waiting, per_address=max(1, (workers + waiting) // 4))

    @contextmanager
    def admit(self, address: str) -> Iterator[PinCheckTicket]:
        """A place for one check, or :class:`PinChecksBusy` at once."""
        if self.admitted >= self.capacity or self._by_address[address] >= self.per_address:
            raise PinChecksBusy
        self.admitted += 1
        self._by_address[address] += 1
        ticket = PinCheckTicket(self, address)
        try:
            yield ticket
        finally:
            ticket.leave()

    def release(self, address: str) -> None:
        self.admitted -= 1
        self._by_address[address] -= 1
        if self._by_address[address] <= 0:
            del self._by_address[address]

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
