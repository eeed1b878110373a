"""Per-address limits on unauthenticated sign-in attempts (API.md §0 "rate limits").

:func:`count_sign_in_attempt` is the one gate every unauthenticated sign-in passes (the
PIN grant today, the sign-in page tomorrow): at most ``per_minute`` attempts from one
client address in any 60 seconds (a sliding window, not calendar minutes), else
:class:`SignInThrottled` (429) with ``Retry-After`` saying when the oldest attempt leaves
the window. Refused attempts are not counted, so a client that waits as told gets in.

The state is one row per address in ``sign_in_attempts``, changed by one atomic
``INSERT … ON CONFLICT DO UPDATE`` per attempt: PostgreSQL takes the row lock and
evaluates the window on the latest row version, so however many replicas and requests
race, no more than ``per_minute`` are admitted. It is committed in a transaction of its
own at once, so it stands whatever the sign-in then answers.

IPv6 clients are counted per /64, the smallest block a single subscriber is usually given
(anyone holding one could otherwise take a fresh address per attempt).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from ipaddress import IPv6Address, IPv6Network, ip_address

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import repository
from app.errors import TooManyRequests

WINDOW_SECONDS = 60
# Rows that no longer hold anything are deleted by a rare sign-in (about 1 in this many).
PRUNE_ONE_IN = 256
# A PIN counter nobody has touched for this long is forgotten (locks last 15 minutes).
PIN_COUNTER_IDLE = timedelta(days=1)


class SignInThrottled(TooManyRequests):
    slug, title = "too-many-sign-in-attempts", "Too many sign-in attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "Too many sign-in attempts from your address: try again later",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


def limit_key(address: str) -> str:
    """The bucket an address counts in: itself, or its /64 for IPv6."""
    try:
        parsed = ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(parsed, IPv6Address):
        return str(IPv6Network((parsed, 64), strict=False))
    return str(parsed)


async def count_sign_in_attempt(
    sessionmaker: async_sessionmaker[AsyncSession], address: str, per_minute: int
) -> None:
    """Count one sign-in attempt from ``address``, or raise :class:`SignInThrottled`."""
    async with sessionmaker() as session, session.begin():
        row = await repository.count_sign_in(
            session,
            address=limit_key(address),
            per_minute=per_minute,
            window=timedelta(seconds=WINDOW_SECONDS),
        )
        if secrets.randbelow(PRUNE_ONE_IN) == 0:
            await prune(session)
    if row.refused:
        raise SignInThrottled(max(1, row.retry_after or 1))


async def prune(session: AsyncSession) -> None:
    """Forget what no longer limits anyone: addresses with no attempt in the window, PIN
    counters idle for a day and not locked. Both tables only grow by attempts, which the
    per-address limit bounds."""
    await repository.prune_sign_in_state(
        session, window=timedelta(seconds=WINDOW_SECONDS), pin_counter_idle=PIN_COUNTER_IDLE
    )
