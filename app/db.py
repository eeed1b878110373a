"""Engine, session factory and the per-request session.

The engine is made in the lifespan (never at import) and kept on ``app.state.db``.
One request, one session, one commit: services only ``flush()``; the commit happens in
:func:`get_session` after the handler returns and *before* the response is sent
(``Depends(get_session, scope="function")``), so a 201 never precedes a failed commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.settings import Settings


@dataclass
class Database:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    async def dispose(self) -> None:
        await self.engine.dispose()


def make_engine(url: str, settings: Settings) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=settings.db.pool_size,
        max_overflow=settings.db.max_overflow,
        pool_pre_ping=False,
        echo=settings.db.echo,
        connect_args={"server_settings": {"application_name": "onward"}},
    )


def make_database(engine: AsyncEngine) -> Database:
    return Database(engine, async_sessionmaker(engine, expire_on_commit=False))


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    async with db.sessionmaker() as session:
        yield session
        # Runs before the response is sent (scope="function"): a failed commit is an error
        # response, never a success that was not stored.
        await session.commit()


Session = Annotated[AsyncSession, Depends(get_session, scope="function")]
