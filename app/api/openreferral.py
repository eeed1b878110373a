"""Open Referral UK (HSDS 3) export of the published offers, for council directories.

Every document validates against the official Open Referral UK 3.0 schemas (see
``app/offers/openreferral.py``); absent optional members are left out, never ``null``.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.api.offers import SearchText
from app.api.params import DateTimeParam
from app.api.problems import problem
from app.api.session import Session
from app.offers import openreferral, service
from app.offers.openreferral import OrukApiInfo, OrukService, OrukServicePage
from app.settings import Settings

router = APIRouter(tags=["openreferral"])

PUBLIC_CACHE = "public, max-age=60"
ModifiedAfter = Annotated[
    DateTimeParam,
    Query(
        description="Only services changed strictly after this RFC 3339 date-time "
        "(with an offset, e.g. `2026-05-01T14:00:00Z`): pass the `last_modified` of the "
        "newest service you have."
    ),
]


@router.get(
    "/v1/openreferral/",
    summary="API information (HSDS 3)",
    response_model=OrukApiInfo,
)
async def read_openreferral_info(request: Request, response: Response) -> OrukApiInfo:
    """The standard's API information: the HSDS version, the profile (Open Referral UK) and
    where this API's OpenAPI document is (an absolute URL under `ONWARD_ISSUER`)."""
    settings: Settings = request.app.state.settings
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return OrukApiInfo(
        version=openreferral.HSDS_VERSION,
        profile=openreferral.PROFILE_URL,
        openapi_url=settings.issuer_url + "/openapi.json",
    )


@router.get(
    "/v1/openreferral/services",
    summary="Published offers as HSDS services",
    response_model=OrukServicePage,
    response_model_exclude_none=True,
    responses=problem(422, "Invalid request"),
)
async def list_openreferral_services(
    session: Session,
    response: Response,
    search: SearchText = None,
    organization_id: uuid.UUID | None = None,
    modified_after: ModifiedAfter = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 50,
) -> OrukServicePage:
    """Every published offer valid today, as an Open Referral UK 3.0 service with its
    one-to-one members (the standard's `service_list`: fetch
    `/v1/openreferral/services/{id}` for locations, schedules and areas), oldest first
    (stable for harvesting), in the standard's page envelope (`size` = items on this page).
    Filters: `search` (full text), `organization_id`, `modified_after` (RFC 3339 date-time
    with offset; anything else is 422). Absent optional members are omitted. No token
    needed."""
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
        [openreferral.to_service_summary(o) for o in offers],
        total=total,
        page=page,
        per_page=per_page,
    )


@router.get(
    "/v1/openreferral/services/{service_id}",
    summary="One published offer as an HSDS service",
    response_model=OrukService,
    response_model_exclude_none=True,
    responses=problem(404, "No such published offer"),
)
async def read_openreferral_service(
    service_id: uuid.UUID, session: Session, response: Response
) -> OrukService:
    """A published offer as a fully nested Open Referral UK 3.0 service (locations with
    their address, weekly schedules in London wall-clock time, service areas, the category
    as a taxonomy term). Sub-entity ids are stable UUIDs derived from the offer. Anything
    not published is 404."""
    offer = await service.published_offer(session, service_id)
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return openreferral.to_service(offer)
