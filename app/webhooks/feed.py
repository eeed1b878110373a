"""The change feed: ``shared`` / ``updated`` / ``unshared`` items for one organisation.

Items are written by ``consent.cuts.refresh_cuts`` in the transaction that changed the
organisation's cut, so the feed holds exactly the changes of what that organisation can
see, and no personal data.

**A cursor never skips or repeats an item, even while changes are being committed.**
Sequence numbers are handed out when a row is inserted, not when its transaction commits,
so ordering by ``seq`` alone would let a slow transaction commit a row *behind* a cursor
already given out. Instead each row records its transaction id (``txid``), and the feed
serves only rows whose ``txid`` is below the ``xmin`` of the reading statement's snapshot:
every transaction with an id below ``xmin`` has ended, so no new row can ever appear with
such a ``txid``. Served in ``(txid, seq)`` order with the cursor on that pair, a reader
sees each row exactly once. The cost: a row waits until every transaction older than its
own has ended (normally milliseconds).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.pagination import decode_cursor, encode_cursor
from app.webhooks import repository


async def read_changes(
    session: AsyncSession, organisation_id: uuid.UUID, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Up to ``limit`` items after ``cursor``, oldest first, and the cursor to go on from.

    ``next_cursor`` is the position after the last item returned, or the given cursor when
    nothing new has settled yet; it is null only for a first call that finds nothing.
    """
    after: tuple[int, int] | None = None
    if cursor is not None:
        _, txid, seq = decode_cursor(cursor, "feed", int, int)
        after = (txid, seq)
    rows = await repository.settled_changes(session, organisation_id, after=after, limit=limit)
    items = [{"id": r.id, "at": r.at, "type": r.type, "profile_id": r.profile_id} for r in rows]
    next_cursor = encode_cursor("feed", rows[-1].txid, rows[-1].seq) if rows else cursor
    return {"items": items, "next_cursor": next_cursor}
