"""The transactional outbox: webhook messages written in the transaction of the change.

:func:`enqueue` is called by the code that makes a change (``consent.cuts.refresh_cuts``
for ``profile.*``, the referral service for ``referral.*``) in *its* transaction, so a
message exists if and only if the change committed: a rolled-back change leaves no
message, and a committed one cannot lose its message to a crash between commit and send.
The delivery worker (``webhooks.delivery``) sends the rows after commit.

Payloads are thin, ids only (API.md §9): the partner then reads through the normal,
logged path, so a webhook never carries personal data and never discloses more than a
read would.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.webhooks import repository


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def payload(event: str, at: datetime, data: dict[str, uuid.UUID | None]) -> str:
    """The exact body sent (and signed): ``{"type", "timestamp", "data": {ids}}``."""
    ids = {key: str(value) for key, value in data.items() if value is not None}
    return json.dumps({"type": event, "timestamp": rfc3339(at), "data": ids}, separators=(",", ":"))


async def enqueue(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    event: str,
    data: dict[str, uuid.UUID | None],
    *,
    at: datetime,
) -> None:
    """One outbox row per active webhook of the (active) organisation subscribed to
    ``event``, due at once; one statement, which finds nothing for most organisations."""
    await repository.enqueue(session, organisation_id, event, payload(event, at, data))
