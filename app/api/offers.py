"""Offers: publishing (scope ``offers:write``), the public catalogue, and matching for a leaver."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import AfterValidator

from app.api.deps import Leaver, OfferWriter, optional_principal
from app.api.params import Cursor, DateTimeParam, Limit
from app.api.problems import problem, token
from app.api.session import Session
from app.auth import scopes as S
from app.auth.principal import Principal
from app.errors import ValidationFailed, refuse_nul
from app.offers import service
from app.offers.schemas import (
    Category,
    Cohort,
    Gender,
    Offer,
    OfferCreate,
    OfferMatchPage,
    OfferPage,
)
from app.pagination import DEFAULT_LIMIT

# A full-text search as typed: bounded here, rebuilt into safe words by the service
# (``service.web_search``); a NUL character is refused as everywhere else.
SearchText = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        description='Web-search syntax: words, `"exact phrase"`, `-not`, `or`; at most '
        f"{service.MAX_SEARCH_TERMS} terms are used.",
    ),
    AfterValidator(refuse_nul),
]

router = APIRouter(tags=["offers"])

PUBLIC_CACHE = "public, max-age=60"

_WRITER = token(S.OFFERS_WRITE)
_UNKNOWN = problem(404, "No such offer, or not yours to see")
_STALE = problem(412, "If-Match names an old version")
_INVALID = problem(422, "Invalid request")


def _etag(response: Response, offer: Offer) -> Offer:
    response.headers["ETag"] = f'"{offer.version}"'
    return offer


@router.post(
    "/v1/offers",
    status_code=201,
    response_model=Offer,
    summary="Publish an offer",
    responses=_WRITER | _INVALID,
)
async def create_offer(
    body: OfferCreate, principal: OfferWriter, session: Session, response: Response
) -> Offer:
    """Create an offer owned by the caller's organisation. `status` defaults to `draft`
    (only your organisation sees it); set `published` to list it in the public catalogue.

    Validation: `category`, `eligibility.cohorts`, `eligibility.genders`, `delivery.modes`
    and `schedule.weekly[].day` come from fixed vocabularies; `eligibility.areas` are ONS
    local authority codes; `required_fields` are paths (or sections) of the field catalogue;
    opening hours are `HH:MM` in Europe/London with `closes` later than `opens` (`24:00`
    allowed as a closing time; several periods a day allowed; a night service is two
    periods); latitude −90..90 and longitude −180..180; unknown keys are refused.
    Answers the offer with its `ETag`."""
    offer = await service.create_offer(session, principal.org_id, body)
    response.headers["Location"] = f"/v1/offers/{offer.id}"
    return _etag(response, offer)


@router.get(
    "/v1/offers",
    response_model=OfferPage,
    summary="Search the public catalogue",
    responses=problem(401, "Invalid token (none is needed)") | _INVALID,
)
async def list_offers(
    session: Session,
    response: Response,
    principal: Annotated[Principal | None, Depends(optional_principal)],
    organisation_id: Annotated[
        uuid.UUID | None,
        Query(
            description="Offers of this organisation. With that organisation's "
            "`offers:write` token: all of its offers in every status (drafts, paused, "
            "withdrawn, out of date), newest first; otherwise its published offers."
        ),
    ] = None,
    category: Category | None = None,
    area: Annotated[
        str | None,
        Query(pattern=r"^[ENSW][0-9]{8}$", description="ONS code: offers for it or for anywhere"),
    ] = None,
    cohort: Annotated[Cohort | None, Query(description="Offers for it or for anyone")] = None,
    gender: Annotated[Gender | None, Query(description="Offers for it or for anyone")] = None,
    age: Annotated[int | None, Query(ge=0, le=120)] = None,
    meet_at_gate: bool | None = None,
    open_at: Annotated[
        DateTimeParam,
        Query(description="Open at this instant (Europe/London hours), or always open"),
    ] = None,
    q: SearchText = None,
    near: Annotated[
        str | None, Query(description="`lat,lon`: only offers with a place within radius_km")
    ] = None,
    radius_km: Annotated[float | None, Query(gt=0, le=500)] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Published offers valid today (Europe/London date), newest first; with `near`, sorted
    by great-circle distance (then id) instead. No token needed.

    * `area`, `cohort`, `gender`: offers for that value **or** open to anyone (empty list).
    * `age`: offers whose age limits include it.
    * `open_at` (date-time with offset): open at that instant by the London clock, through
      the GMT/BST changes, or always open.
    * `q`: full text over title, summary, description and tags (web-search syntax:
      `"exact phrase"`, `-not`, `or`).
    * `near=lat,lon` with `radius_km` (default 25, at most 500).
    * `organisation_id`: that organisation's offers; its own `offers:write` token lists
      them in every status (the other filters still apply). A token, when sent, must be
      valid.
    """
    point = _parse_near(near)
    if radius_km is not None and point is None:
        raise ValidationFailed("radius_km needs near", loc=["query", "radius_km"])
    query = service.CatalogueQuery(
        category=category,
        area=area,
        cohort=cohort,
        gender=gender,
        age=age,
        meet_at_gate=meet_at_gate,
        open_at=open_at,
        q=q.strip() or None if q else None,
        near=point,
        radius_km=radius_km if radius_km is not None else 25.0,
        limit=limit,
        cursor=cursor,
        organisation_id=organisation_id,
        owner=_is_owner(principal, organisation_id),
    )
    items, next_cursor = await service.search_offers(session, query)
    # The owner's list holds drafts: never kept by a shared cache.
    response.headers["Cache-Control"] = "no-store" if query.owner else PUBLIC_CACHE
    return {"items": items, "next_cursor": next_cursor}


def _is_owner(principal: Principal | None, organisation_id: uuid.UUID | None) -> bool:
    return (
        principal is not None
        and organisation_id is not None
        and S.OFFERS_WRITE in principal.scopes
        and principal.organisation_id == organisation_id
    )


def _parse_near(near: str | None) -> tuple[float, float] | None:
    if near is None:
        return None
    try:
        lat_text, lon_text = near.split(",")
        lat, lon = float(lat_text), float(lon_text)
    except ValueError as exc:
        raise ValidationFailed("near must be lat,lon", loc=["query", "near"]) from exc
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValidationFailed("near is out of range", loc=["query", "near"])
    return lat, lon


@router.get(
    "/v1/offers/{offer_id}",
    response_model=Offer,
    summary="Read an offer",
    responses=problem(401, "Invalid token (none is needed)") | _UNKNOWN,
)
async def read_offer(
    offer_id: uuid.UUID,
    session: Session,
    response: Response,
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Offer:
    """Public when published (no token needed). A draft, paused or withdrawn offer is visible
    only to a token of its own organisation; to anyone else it is 404. A token, when sent,
    must be valid."""
    viewer = principal.organisation_id if principal is not None else None
    offer = await service.get_offer(session, offer_id, viewer)
    if principal is None and offer.status == "published":
        response.headers["Cache-Control"] = PUBLIC_CACHE
    return _etag(response, offer)


@router.put(
    "/v1/offers/{offer_id}",
    response_model=Offer,
    summary="Replace an offer",
    responses=_WRITER | _UNKNOWN | _STALE | _INVALID | problem(428, "If-Match is required"),
)
async def replace_offer(
    offer_id: uuid.UUID,
    body: OfferCreate,
    principal: OfferWriter,
    session: Session,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> Offer:
    """Replace the whole offer (same body as POST). Owner only (404 to others).
    `If-Match: "<version>"` is required (428 without, 412 when stale); the version goes up
    by one and the new `ETag` is returned. To try it against `onward serve --demo` with the
    demo provider's token: offer `b9d4949a-43d5-5506-961f-7a7d1d12228f` ("Travel to your
    first appointments") and `If-Match: "1"`."""
    offer = await service.replace_offer(session, principal.org_id, offer_id, body, if_match)
    return _etag(response, offer)


@router.delete(
    "/v1/offers/{offer_id}",
    status_code=204,
    summary="Withdraw an offer",
    responses=_WRITER | _UNKNOWN | _STALE,
)
async def withdraw_offer(
    offer_id: uuid.UUID,
    principal: OfferWriter,
    session: Session,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Withdraw the offer (owner only; 404 to others): it leaves the catalogue and stays
    readable by your organisation with `status: withdrawn`. Idempotent. `If-Match` is
    optional here; when sent and stale, 412."""
    await service.withdraw_offer(session, principal.org_id, offer_id, if_match)
    return Response(status_code=204)


@router.get(
    "/v1/me/offers",
    response_model=OfferMatchPage,
    summary="Offers for me, open when I walk out",
    responses=token(S.SELF) | _INVALID,
)
async def list_my_offers(
    principal: Leaver,
    session: Session,
    within_hours: Annotated[int, Query(ge=1, le=336)] = 72,
    explain: Annotated[
        bool, Query(description="Add `excluded`: offers you need but cannot use, and why.")
    ] = False,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """The published offers you are eligible for, best first, by the release-day matching
    rules (API.md §4). R is your release (`release.expected_at`, or now when unknown).

    * **Eligible**: gender, age from your date of birth, cohorts, and local connection: an
      offer that needs one is listed when your `release.local_connections` meet its areas,
      and with the reason "You may need a local connection to …" when you have not said
      where you have connections.
    * **When you can be there**: R plus 30 minutes plus the straight line from your prison
      (`release.establishment_code`) to its nearest place at 30 km/h (R for phone and
      online offers). `next_open_at` (UTC) is the first time from then that it is open
      with at least 30 minutes left: bank holidays in England and Wales close weekly hours
      unless the offer opens on them, and its closures close it.
    * **Order**: open within `within_hours` (1–336, default 72) of R first; not full; your
      need in its pathway; earlier `next_open_at`; a worker of the gender you prefer;
      nearer your release area's town; title.
    * `reasons` says why, in plain words, and only what is true.
    * `explain=true` adds `excluded`: up to 20 offers in categories you need that you are
      not eligible for, each with why."""
    items, next_cursor = await service.offers_for_leaver(
        session, principal.profile_id, within_hours=within_hours, limit=limit, cursor=cursor
    )
    answer: dict[str, Any] = {"items": items, "next_cursor": next_cursor}
    if explain:
        answer["excluded"] = await service.excluded_for_leaver(session, principal.profile_id)
    return answer
