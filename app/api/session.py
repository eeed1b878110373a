"""The per-request database session (the HTTP side of :mod:`app.db`).

One request, one session, one commit: services and repositories only ``flush()``; the
commit happens in :func:`get_session` after the handler returns and *before* the response
is sent (``Depends(get_session, scope="function")``), so a 201 never precedes a failed
commit. Handlers and pages take it as ``session: Session``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    async with db.sessionmaker() as session:
        yield session
        # Runs before the response is sent (scope="function"): a failed commit is an error
        # response, never a success that was not stored.
        await session.commit()


Session = Annotated[AsyncSession, Depends(get_session, scope="function")]
