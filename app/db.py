"""Engine, session factory and the per-request session.

The engine is made in the lifespan (never at import) and kept on ``app.state.db``.
One request, one session, one commit: services only ``flush()``; the commit happens in
:func:`get_session` after the handler returns and *before* the response is sent
(``Depends(get_session, scope="function")``), so a 201 never precedes a failed commit.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.settings import Settings


class _NoResetConnection(asyncpg.Connection):  # type: ignore[misc]
    """Hot-path connections run single statements in autocommit, so they never hold
    session state: skip asyncpg's RESET ALL round trip when they go back to the pool."""

    def get_reset_query(self) -> str:
        return ""


@dataclass
class Database:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # A plain asyncpg pool for the hot path (the partner read): autocommit statements,
    # no ORM, no BEGIN/COMMIT round trips. None in tests, where raw() borrows the
    # session's connection so the test's transaction still wraps everything.
    pool: Any = None

    @asynccontextmanager
    async def raw(self) -> AsyncIterator[asyncpg.Connection]:
        """An asyncpg connection. Each statement on the pool commits on its own."""
        if self.pool is not None:
            async with self.pool.acquire() as conn:
                yield conn
            return
        async with self.sessionmaker() as session:
            connection = await session.connection()
            raw = await connection.get_raw_connection()
            yield raw.driver_connection
            await session.commit()

    async def dispose(self) -> None:
        if self.pool is not None:
            await self.pool.close()
        await self.engine.dispose()


async def make_pool(url: str, settings: Settings) -> Any:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    return await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=settings.db.pool_size,
        connection_class=_NoResetConnection,
        # The hot statements are fixed shapes: plan them once per connection, not per call.
        server_settings={"application_name": "onward-hot", "plan_cache_mode": "force_generic_plan"},
        init=_json_codecs,
    )


async def _json_codecs(conn: asyncpg.Connection) -> None:
    # Decode json/jsonb as SQLAlchemy's asyncpg dialect does, so rows look the same
    # whichever way (pool or test session) the connection came.
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, schema="pg_catalog", encoder=json.dumps, decoder=json.loads, format="text"
        )


def make_engine(url: str, settings: Settings) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=settings.db.pool_size,
        max_overflow=settings.db.max_overflow,
        pool_pre_ping=False,
        echo=settings.db.echo,
        # Exception texts then never carry SQL parameters (a story, a phone number).
        hide_parameters=True,
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
