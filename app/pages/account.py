"""The leaver's own pages (API.md §8) behind sign-in: each one another face of the domain
services ``api/`` uses (no rule is copied here)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.db import Session
from app.pages.rendering import render
from app.pages.sessions import SignedIn
from app.profiles import service as profiles

router = APIRouter(include_in_schema=False)


@router.get("/account")
async def start(request: Request, leaver: SignedIn, session: Session) -> Response:
    """The start page: release date, key worker, what's next, links to the rest."""
    profile = await profiles.get_own_profile(session, leaver.profile_id)
    data: dict[str, Any] = profile["data"]
    return render(
        request,
        "start.html",
        {
            "reference": profile["reference"],
            "release": data.get("release") or {},
            "key_worker": data.get("key_worker") or {},
        },
        title="Your account",
    )
