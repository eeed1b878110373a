"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.db import Database
from app.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    """200 while the process runs. It does not touch the database."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness", responses={503: {"description": "Not ready"}})
async def readyz(request: Request) -> JSONResponse:
    """200 only when the database answers and its migrations are at head; else 503."""
    db: Database = request.app.state.db
    try:
        current = await current_revision(db.engine)
    except Exception:  # any database failure means "not ready", never a 500
        current = None
    head = head_revision()
    if current != head:
        body = {
            "status": "unavailable",
            "database": "unreachable" if current is None else "migrations pending",
        }
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})
    return JSONResponse({"status": "ok", "revision": head})
