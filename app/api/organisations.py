"""Public look-ups of organisations, so a leaver can see who they share with."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.api.params import Cursor, Limit
from app.api.problems import problem
from app.api.session import Session
from app.auth import organisations
from app.auth.schemas import OrganisationSummary, OrganisationSummaryPage
from app.pagination import DEFAULT_LIMIT

router = APIRouter(tags=["organisations"])


@router.get(
    "/v1/organisations",
    response_model=OrganisationSummaryPage,
    summary="Find organisations by name",
    responses=problem(422, "Invalid q, limit or cursor"),
)
async def find_organisations(
    session: Session,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Part of the name, any case. Absent: every one."),
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Any:
    """Organisations whose name contains `q` (ignoring case), newest first. No token is
    needed; only `id`, `name` and `kind` are shown."""
    items, next_cursor = await organisations.list_organisations(
        session, limit=limit, cursor=cursor, name_contains=(q or "").strip() or None
    )
    return {"items": items, "next_cursor": next_cursor}


@router.get(
    "/v1/organisations/{organisation_id}",
    response_model=OrganisationSummary,
    summary="An organisation",
    responses=problem(404, "No such organisation"),
)
async def read_organisation(organisation_id: str, session: Session) -> Any:
    """`id`, `name` and `kind` of one organisation. No token is needed. An unknown or
    malformed id is a 404."""
    return await organisations.get_organisation(session, organisation_id)
