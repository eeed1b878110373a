"""The embedded PostgreSQL used when ``DATABASE_URL`` is unset.

The ``pgserver`` wheel ships real PostgreSQL binaries; the cluster lives under
``<data_dir>/pg`` and is reached over a Unix socket in that directory. It is for
development, tests and demos: production sets ``DATABASE_URL``.

Lifetime: the cluster runs while some process uses it, and stops when the last one exits.
Every ``onward`` process (and a test run) that starts or reuses it adds its pid to
``<data_dir>/pg/.handle_pids.json`` (pgserver's reference list, under an inter-process
lock), and removes it when it exits; the last one out stops PostgreSQL (pgserver's
``cleanup_mode="stop"``). Pids of processes that died without exiting cleanly (SIGKILL)
are pruned whenever a process joins, so they never keep the cluster up for good. uvicorn's
worker processes get ``DATABASE_URL`` (:func:`export_for_children`) and never hold it.
:func:`stop_embedded` stops it at once (``onward stop-database``, ``make clean``).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

log = logging.getLogger(__name__)

_servers: dict[Path, Any] = {}


def _pgserver() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI): harmless.
        warnings.simplefilter("ignore")
        import pgserver  # type: ignore[import-untyped,unused-ignore]
    return pgserver


def start_embedded(data_dir: Path) -> str:
    """Start (or reuse) the embedded cluster and return a libpq-style socket directory."""
    try:
        pgserver = _pgserver()
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "DATABASE_URL is unset and the embedded PostgreSQL is not installed: "
            "pip install 'onward[embedded]' or set DATABASE_URL"
        ) from exc
    pgdata = (data_dir / "pg").resolve()
    if pgdata not in _servers:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        _prune_dead_holders(pgserver, pgdata)
        # cleanup_mode="stop": the last process holding the cluster stops it when it exits;
        # a process that finds it running joins it (pgserver reuses a running cluster).
        _servers[pgdata] = pgserver.get_server(  # type: ignore[attr-defined,unused-ignore]
            pgdata, cleanup_mode="stop"
        )
        log.info("embedded PostgreSQL running in %s", pgdata)
    return str(pgdata)


HOLDERS_FILE = ".handle_pids.json"


def _prune_dead_holders(pgserver: Any, pgdata: Path) -> None:
    """Drop the pids of processes that are gone from pgserver's reference list.

    A process killed with SIGKILL never removes its pid, and the list would then never
    empty: the cluster would outlive every real user.
    """
    holders = pgdata / HOLDERS_FILE
    if not holders.exists():
        return
    with pgserver.PostgresServer._lock:
        try:
            pids = [int(p) for p in json.loads(holders.read_text() or "[]")]
        except (ValueError, TypeError):
            pids = []
        alive = [pid for pid in pids if _alive(pid)]
        if alive != pids:
            holders.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_pid(data_dir: Path) -> int | None:
    """The pid of the embedded postmaster under ``data_dir`` when it runs, else None."""
    pid_file = data_dir / "pg" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def stop_embedded(data_dir: Path) -> bool:
    """Stop the embedded cluster under ``data_dir`` now (fast shutdown: open sessions are
    ended); True when one was running. Its directory is left as it is."""
    pgdata = (data_dir / "pg").resolve()
    if running_pid(data_dir) is None:
        return False
    pgserver = _pgserver()
    user = "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    pgserver.pg_ctl(  # type: ignore[attr-defined,unused-ignore]
        ["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user
    )
    holders = pgdata / HOLDERS_FILE
    if holders.exists():
        holders.write_text("[]")
    return True


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
