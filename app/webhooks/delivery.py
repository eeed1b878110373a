"""Delivering the outbox: at least once, signed, retried for a day, from any replica.

One round of :func:`deliver_due` (every replica runs it about every second):

1. **Claim** up to ``limit`` due rows in a short transaction: ``FOR UPDATE SKIP LOCKED``
   (replicas claiming at the same instant take disjoint rows), then move each row's
   ``next_attempt_at`` a minute ahead (the *lease*) and **commit before any HTTP call**, so
   no transaction is held open over the network and no other replica takes the row while
   it is being sent. A replica that dies mid-send leaves the row to be retried when the
   lease runs out: at least once, never lost.
2. **Send** each claimed row concurrently: the URL is checked again (``webhooks.urls``),
   the request goes to the checked address, signed as Standard Webhooks do, with a 10 s
   timeout and no redirects followed. 2xx is delivered; anything else, a 3xx included, is
   a failed attempt.
3. **Record** every attempt (time, status code, outcome) and the row's next state in one
   transaction: delivered; due again after the next delay of :data:`RETRY_DELAYS`; or
   ``failed`` (given up) when that would be more than a day after the message was made.
   An endpoint whose every attempt has failed for three days is disabled.

Only rows of active webhooks of active organisations are claimed: a disabled
organisation's webhooks stop at once (their pending rows wait, unsent).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models.base import utcnow
from app.webhooks import repository
from app.webhooks.signing import sign
from app.webhooks.urls import RESOLVE_TIMEOUT_SECONDS, UnsafeURL, resolve

log = logging.getLogger(__name__)

# Delay before the 2nd, 3rd, … attempt (the last repeats), until a day has passed.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
)
GIVE_UP_AFTER = timedelta(days=1)
DISABLE_AFTER = timedelta(days=3)
DISABLED_REASON = "Every delivery attempt failed for three days"
LEASE = timedelta(seconds=60)
TIMEOUT_SECONDS = 10.0
BATCH = 20
USER_AGENT = "Onward-Webhooks/1.0"


def next_attempt_at(created_at: datetime, attempts: int, now: datetime) -> datetime | None:
    """When to try again after ``attempts`` failed attempts, or None to give up (pure)."""
    delay = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
    due = now + delay
    return due if due - created_at <= GIVE_UP_AFTER else None


# The lease must outlast a whole attempt (resolution + 10 s), else a slow send could be
# claimed again by another replica while it runs.
assert LEASE.total_seconds() > 3 * (TIMEOUT_SECONDS + RESOLVE_TIMEOUT_SECONDS)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: uuid.UUID
    webhook_id: uuid.UUID
    body: str
    attempts: int
    created_at: datetime
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    outcome: str  # one of models.webhooks.ATTEMPT_OUTCOMES

    @property
    def delivered(self) -> bool:
        return self.outcome == "delivered"


async def claim(session: AsyncSession, *, now: datetime, limit: int = BATCH) -> list[Claimed]:
    """Claim and lease up to ``limit`` due rows; the caller commits at once."""
    rows = await repository.claim_due(session, now=now, limit=limit, lease_until=now + LEASE)
    return [Claimed(*row) for row in rows]


def _ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def send(client: httpx.AsyncClient, message: Claimed, *, allow_private: bool) -> Outcome:
    """One signed POST to the checked address of the webhook's URL."""
    try:
        target = await resolve(message.url, allow_private=allow_private)
    except UnsafeURL:
        return Outcome(None, "refused")
    timestamp = int(time.time())
    message_id = str(message.id)
    headers = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(message.secret, message_id, timestamp, message.body),
    }
    extensions: dict[str, Any] = {}
    if target.scheme == "https" and not _ip_literal(target.host):
        # Connect to the checked address, but present and verify the host's name.
        extensions["sni_hostname"] = target.host
    try:
        async with client.stream(
            "POST",
            target.pinned_url,
            content=message.body.encode(),
            headers=headers,
            extensions=extensions,
        ) as response:
            # The answer's body is never read: only its status matters.
            status = response.status_code
    except httpx.TimeoutException:
        return Outcome(None, "timeout")
    except httpx.HTTPError:
        return Outcome(None, "connection_error")
    return Outcome(status, "delivered" if 200 <= status < 300 else "http_error")


async def _send_bounded(
    client: httpx.AsyncClient, message: Claimed, *, allow_private: bool
) -> Outcome:
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS + RESOLVE_TIMEOUT_SECONDS + 5):
            return await send(client, message, allow_private=allow_private)
    except TimeoutError:
        return Outcome(None, "timeout")


async def record(
    session: AsyncSession, message: Claimed, result: Outcome, *, now: datetime
) -> None:
    """Store one attempt and what follows from it, in the caller's transaction."""
    await repository.record_attempt(
        session,
        delivery_id=message.id,
        at=now,
        status_code=result.status_code,
        outcome=result.outcome,
    )
    if result.delivered:
        await repository.mark_delivered(session, message.id, now)
        await repository.endpoint_ok(session, message.webhook_id)
        return
    retry_at = next_attempt_at(message.created_at, message.attempts, now)
    status = "failed" if retry_at is None else "pending"  # failed: given up
    await repository.mark_failed(session, message.id, status=status, retry_at=retry_at)
    failing_since = await repository.endpoint_failed(session, message.webhook_id, now)
    if failing_since is not None and now - failing_since >= DISABLE_AFTER:
        await repository.disable(session, message.webhook_id, now, DISABLED_REASON)


def http_client() -> httpx.AsyncClient:
    # trust_env=False: no proxy from the environment, which would defeat the address check.
    return httpx.AsyncClient(
        timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False, verify=True
    )


async def deliver_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    allow_private: bool = False,
    now: datetime | None = None,
    limit: int = BATCH,
) -> int:
    """One round: claim, send and record up to ``limit`` due messages; how many were
    attempted. Safe to run in every replica at once."""
    now = now or utcnow()
    async with sessionmaker() as session:
        claimed = await claim(session, now=now, limit=limit)
        await session.commit()  # the lease holds from here; no transaction is left open
    if not claimed:
        return 0
    async with http_client() as client:
        results = await asyncio.gather(
            *(_send_bounded(client, m, allow_private=allow_private) for m in claimed)
        )
    recorded_at = max(now, utcnow())
    async with sessionmaker() as session:
        for message, result in zip(claimed, results, strict=True):
            await record(session, message, result, now=recorded_at)
        await session.commit()
    return len(claimed)


async def deliver_backlog(
    sessionmaker: async_sessionmaker[AsyncSession], *, allow_private: bool, rounds: int = 10
) -> int:
    """The periodic task: rounds of :func:`deliver_due` while full batches keep coming."""
    total = 0
    for _ in range(rounds):
        done = await deliver_due(sessionmaker, allow_private=allow_private)
        total += done
        if done < BATCH:
            break
    return total
