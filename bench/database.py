"""The benchmarks' own database: ``onward_bench``, never the one ``DATABASE_URL`` names."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from app import embedded

NAME = "onward_bench"


async def bench_database_url(data_dir: Path, *, fresh: bool) -> str:
    """An asyncpg URL for ``onward_bench`` on ``DATABASE_URL``'s server, or on the embedded
    cluster under ``data_dir``; created when missing, or dropped and created when ``fresh``.

    Administered from the ``postgres`` maintenance database, so ``DATABASE_URL`` may itself
    name ``onward_bench``. The database ``DATABASE_URL`` names is never touched: loading
    benchmark data empties tables.
    """
    explicit = os.environ.get("DATABASE_URL")
    server = (
        embedded.to_asyncpg_url(explicit)
        if explicit
        else embedded.embedded_url(data_dir, "postgres")
    )
    parts = urlsplit(server)
    admin = await asyncpg.connect(urlunsplit(parts._replace(scheme="postgresql", path="/postgres")))
    try:
        if fresh:
            await admin.execute(f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)")
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", NAME):
            await admin.execute(f"CREATE DATABASE {NAME}")
    finally:
        await admin.close()
    return urlunsplit(parts._replace(path=f"/{NAME}"))
