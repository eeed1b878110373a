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

from sqlalchemy import BigInteger, ColumnElement, func, literal_column, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.profiles import ProfileChange
from app.pagination import decode_cursor, encode_cursor

# The reading statement's snapshot xmin: every transaction below it has ended.
_SNAPSHOT_XMIN: ColumnElement[int] = literal_column(
    "(pg_snapshot_xmin(pg_current_snapshot())::text)::bigint", type_=BigInteger
)


async def read_changes(
    session: AsyncSession, organisation_id: uuid.UUID, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Up to ``limit`` items after ``cursor``, oldest first, and the cursor to go on from.

    ``next_cursor`` is the position after the last item returned, or the given cursor when
    nothing new has settled yet; it is null only for a first call that finds nothing.
    """
    statement = (
        select(
            ProfileChange.id,
            ProfileChange.at,
            ProfileChange.type,
            ProfileChange.profile_id,
            ProfileChange.txid,
            ProfileChange.seq,
        )
        .where(
            ProfileChange.organisation_id == organisation_id,
            ProfileChange.txid < func.coalesce(_SNAPSHOT_XMIN, 0),
        )
        .order_by(ProfileChange.txid, ProfileChange.seq)
        .limit(limit)
    )
    if cursor is not None:
        after = decode_cursor(cursor, "feed", int, int)[1:]
        statement = statement.where(tuple_(ProfileChange.txid, ProfileChange.seq) > after)
    rows = (await session.execute(statement)).all()
    items = [{"id": r.id, "at": r.at, "type": r.type, "profile_id": r.profile_id} for r in rows]
    next_cursor = encode_cursor("feed", rows[-1].txid, rows[-1].seq) if rows else cursor
    return {"items": items, "next_cursor": next_cursor}
