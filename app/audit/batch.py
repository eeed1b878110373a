"""Group commit for access events, in the application.

Every partner read must append its access event, durably (synchronous commit), before
the response leaves. One INSERT + COMMIT per read costs PostgreSQL a WAL flush and a
statement each time. Instead, reads that arrive together share one transaction: each
read enqueues its row and waits; one flusher at a time takes everything queued, inserts
it in one transaction (synchronous commit) and then wakes the waiters. A read still
responds only after its own event is committed, and if the batch fails every read in it
fails with 503, so no disclosure goes unrecorded. Under load a batch holds tens of rows;
a lone read is a batch of one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from app.errors import ServiceUnavailable

MAX_BATCH = 256

INSERT_EVENT = (
    "INSERT INTO access_events (id, profile_id, organisation_id, client_id, action, fields, "
    "grant_ids, at) VALUES ($1, $2, $3, $4, $5, $6, $7, clock_timestamp())"
)


class AccessEventBatcher:
    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._queue: list[tuple[tuple[Any, ...], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def append(self, row: tuple[Any, ...]) -> None:
        """Return once ``row`` is committed; raise ServiceUnavailable if it cannot be."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((row, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        # shield: a client that goes away must not cancel the write of what it was shown.
        await asyncio.shield(future)

    async def _flush(self) -> None:
        try:
            while self._queue:
                batch = self._queue[:MAX_BATCH]
                del self._queue[:MAX_BATCH]
                try:
                    async with self._pool.acquire() as conn:
                        if len(batch) == 1:
                            await conn.execute(INSERT_EVENT, *batch[0][0])
                        else:
                            async with conn.transaction():
                                await conn.executemany(INSERT_EVENT, [row for row, _ in batch])
                except Exception as exc:  # every waiter gets the failure as a 503
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(_unrecorded(exc))
                else:
                    for _, future in batch:
                        if not future.done():
                            future.set_result(None)
        finally:
            self._flusher = None


def _unrecorded(cause: BaseException) -> ServiceUnavailable:
    error = ServiceUnavailable(
        "The read could not be recorded in the access log, so nothing was disclosed. "
        "Try again shortly.",
        headers={"Retry-After": "5"},
    )
    error.__cause__ = cause
    return error
