"""Engine, session factory and the hot path's pool (no framework).

The engine is made in the lifespan (never at import) and kept on ``app.state.db``. The
per-request session, committed before the response is sent, is ``app.api.session``.

Database faults (API.md §0 "faults"). One setting, ``ONWARD_DB__TIMEOUT_SECONDS``, bounds
every wait on the database, on both the engine and the hot path's asyncpg pool: taking a
pooled connection (``pool_timeout`` / ``acquire(timeout=)``), opening a new one (asyncpg's
connect ``timeout``), a lock (``lock_timeout``), a statement (``statement_timeout``
server-side, asyncpg's ``command_timeout`` client-side, for a server that no longer
answers). A pooled connection the server has closed (a restart, a failover, an idle
timeout) is discarded when it is checked out, with no round trip: asyncpg's pool does so
itself, and :func:`_discard_closed` does it for the engine. What still fails is turned
into a 503 by ``api.errors.database_unavailable`` in one place, and ``api.errors.RetryReads`` runs
a GET once more when its connection died under it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
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
    # The longest wait for a pool connection (ONWARD_DB__TIMEOUT_SECONDS); None: unbounded.
    timeout: float | None = None

    @asynccontextmanager
    async def raw(self) -> AsyncIterator[asyncpg.Connection]:
        """An asyncpg connection. Each statement on the pool commits on its own."""
        if self.pool is not None:
            async with self.pool.acquire(timeout=self.timeout) as conn:
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


def bounded_waits(settings: Settings) -> dict[str, str]:
    """Server settings that end a statement or a lock wait past the timeout (SQLSTATE
    57014 and 55P03, answered 503)."""
    millis = str(max(1, round(settings.db.timeout_seconds * 1000)))
    return {"statement_timeout": millis, "lock_timeout": millis}


async def make_pool(url: str, settings: Settings) -> Any:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    timeout = settings.db.timeout_seconds
    return await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=settings.db.pool_size,
        connection_class=_NoResetConnection,
        # The hot statements are fixed shapes: plan them once per connection, not per call.
        server_settings={
            "application_name": "onward-hot",
            "plan_cache_mode": "force_generic_plan",
            **bounded_waits(settings),
        },
        init=_json_codecs,
        timeout=timeout,  # connecting
        # A server that stops answering mid-statement (a failover that drops packets): the
        # client gives up a little after the server-side statement_timeout would have.
        command_timeout=timeout + 1,
    )


async def _json_codecs(conn: asyncpg.Connection) -> None:
    # Decode json/jsonb as SQLAlchemy's asyncpg dialect does, so rows look the same
    # whichever way (pool or test session) the connection came.
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, schema="pg_catalog", encoder=json.dumps, decoder=json.loads, format="text"
        )


def make_engine(url: str, settings: Settings) -> AsyncEngine:
    timeout = settings.db.timeout_seconds
    engine = create_async_engine(
        url,
        pool_size=settings.db.pool_size,
        max_overflow=settings.db.max_overflow,
        pool_timeout=timeout,
        # No SELECT 1 per checkout (a round trip on every request): _discard_closed finds
        # the connections the server closed for free, and SQLAlchemy invalidates the pool
        # on a disconnect error, so a connection that dies silently fails one request
        # (503, retried once when it is a GET) and none after it.
        pool_pre_ping=False,
        echo=settings.db.echo,
        # Exception texts then never carry SQL parameters (a story, a phone number).
        hide_parameters=True,
        connect_args={
            "server_settings": {"application_name": "onward", **bounded_waits(settings)},
            "timeout": timeout,
            "command_timeout": timeout + 1,
        },
    )
    event.listen(engine.sync_engine, "checkout", _discard_closed)
    return engine


def _discard_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A pooled connection whose socket the server closed (restart, failover, idle kill) is
    never handed out: DisconnectionError makes the pool drop it and check out (or open)
    another, up to three times. A local check, no round trip."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None and driver.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def make_database(engine: AsyncEngine, timeout: float | None = None) -> Database:
    return Database(engine, async_sessionmaker(engine, expire_on_commit=False), timeout=timeout)
