"""Alembic, driven from code: the CLI, the lifespan's readiness check and the tests."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, column, func, select, table
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
# From a checkout (editable install) the migrations sit beside app/; an installed wheel
# (the Docker image) finds them in the working directory.
MIGRATIONS = ROOT / "migrations" if (ROOT / "migrations").is_dir() else Path.cwd() / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@lru_cache
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


# The key of the session-level advisory lock every migration run holds (API.md §6:
# replicas starting together migrate one at a time). Any fixed bigint; this one spells
# "onward" in ASCII.
MIGRATION_LOCK_KEY = 0x6F6E77617264


async def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision`` over one async connection.

    Under a PostgreSQL advisory lock: when several replicas start at once, the first
    migrates while the others wait, then find the database at ``revision`` and do nothing.
    The lock is taken on its own connection, committed before Alembic starts, and held by
    the session (not a transaction) until released or the connection closes, so a crash
    never leaves it behind.
    """
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as lock:
            await lock.execute(select(func.pg_advisory_lock(MIGRATION_LOCK_KEY)))
            await lock.commit()
            try:
                async with engine.begin() as conn:

                    def run(sync_conn: Connection) -> None:
                        cfg = alembic_config(url)
                        cfg.attributes["connection"] = sync_conn
                        command.upgrade(cfg, revision)

                    await conn.run_sync(run)
            finally:
                await lock.execute(select(func.pg_advisory_unlock(MIGRATION_LOCK_KEY)))
                await lock.commit()
    finally:
        await engine.dispose()


# Alembic's own bookkeeping table, read to report the revision.
_VERSION = table("alembic_version", column("version_num"))


def upgrade_sync(url: str) -> None:
    asyncio.run(upgrade(url))


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        try:
            row = (await conn.execute(select(_VERSION.c.version_num))).first()
        except (ProgrammingError, DBAPIError):
            return ""
        return "" if row is None else str(row[0])
