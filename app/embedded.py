"""The embedded PostgreSQL used when ``DATABASE_URL`` is unset.

The ``pgserver`` wheel ships real PostgreSQL binaries; the cluster lives under
``<data_dir>/pg`` and is reached over a Unix socket in that directory. It is for
development, tests and demos: production sets ``DATABASE_URL``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

log = logging.getLogger(__name__)

_servers: dict[Path, Any] = {}


def start_embedded(data_dir: Path) -> str:
    """Start (or reuse) the embedded cluster and return a libpq-style socket directory."""
    try:
        import pgserver  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "DATABASE_URL is unset and the embedded PostgreSQL is not installed: "
            "pip install 'onward[embedded]' or set DATABASE_URL"
        ) from exc
    pgdata = (data_dir / "pg").resolve()
    if pgdata not in _servers:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None leaves the server running for the next process (other workers,
        # the next test run); pgserver reuses a running cluster on the same directory.
        _servers[pgdata] = pgserver.get_server(  # type: ignore[attr-defined,unused-ignore]
            pgdata, cleanup_mode=None
        )
        log.info("embedded PostgreSQL running in %s", pgdata)
    return str(pgdata)


def embedded_url(data_dir: Path, database: str = "onward") -> str:
    """An asyncpg URL for ``database`` on the embedded cluster, creating the database."""
    socket_dir = start_embedded(data_dir)
    server = _servers[Path(socket_dir)]
    if not database.replace("_", "").isalnum():
        raise ValueError("database names are letters, digits and underscores")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
    if "1 row" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    return f"postgresql+asyncpg://postgres@/{database}?host={quote(socket_dir)}"


def database_url(explicit: str | None, data_dir: Path, database: str = "onward") -> str:
    """``DATABASE_URL`` when given (normalised to asyncpg), else the embedded one."""
    if explicit:
        return to_asyncpg_url(explicit)
    return embedded_url(data_dir, database)


def to_asyncpg_url(url: str) -> str:
    for prefix in (
        "postgresql://",
        "postgres://",
        "postgresql+psycopg://",
        "postgresql+psycopg2://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def export_for_children(url: str) -> None:
    """Let worker processes (uvicorn --workers) reuse the URL instead of starting their own."""
    os.environ["DATABASE_URL"] = url
