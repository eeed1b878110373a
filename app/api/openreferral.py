"""Open Referral UK (HSDS 3) export of the published offers, for council directories."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from app.api.problems import problem
from app.db import Session
from app.errors import ValidationFailed
from app.offers import openreferral, service

router = APIRouter(tags=["openreferral"])

PUBLIC_CACHE = "public, max-age=60"


@router.get("/v1/openreferral/", summary="API information (HSDS 3)")
async def read_openreferral_info(request: Request, response: Response) -> dict[str, Any]:
    """The standard's API information: the HSDS version and where the OpenAPI lives."""
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return {
        "version": openreferral.HSDS_VERSION,
        "profile": "https://openreferraluk.org",
        "openapi_url": str(request.url_for("openapi")),
    }


@router.get(
    "/v1/openreferral/services",
    summary="Published offers as HSDS services",
    responses=problem(422, "Invalid request"),
)
async def list_openreferral_services(
    session: Session,
    response: Response,
    search: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    organization_id: uuid.UUID | None = None,
    modified_after: datetime | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 50,
) -> dict[str, Any]:
    """Every published offer valid today, as an HSDS 3 service, oldest first (stable for
    harvesting), in the standard's page envelope (`size` = items on this page).
    Filters: `search` (full text), `organization_id`, `modified_after` (date-time with
    offset: changed strictly after it). No token needed."""
    if modified_after is not None and modified_after.tzinfo is None:
        raise ValidationFailed("modified_after needs a UTC offset", loc=["query", "modified_after"])
    offers, total = await service.published_page(
        session,
        search=search,
        organization_id=organization_id,
        modified_after=modified_after,
        page=page,
        per_page=per_page,
    )
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return openreferral.page_envelope(
        [openreferral.to_service(o) for o in offers], total=total, page=page, per_page=per_page
    )


@router.get(
    "/v1/openreferral/services/{service_id}",
    summary="One published offer as an HSDS service",
    responses=problem(404, "No such published offer"),
)
async def read_openreferral_service(
    service_id: uuid.UUID, session: Session, response: Response
) -> dict[str, Any]:
    """A published offer as an HSDS 3 service; anything not published is 404."""
    offer = await service.published_offer(session, service_id)
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return openreferral.to_service(offer)
