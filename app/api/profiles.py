"""Kiosk creation and partner reads of consented fields (API.md §2, §3)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from app.api.deps import Kiosk, PartnerReader, PartnerReaderUnconfirmed
from app.api.params import Cursor, DateTimeParam, Limit
from app.api.problems import problem, token
from app.api.session import Session
from app.auth import scopes as S
from app.auth.bearer import invalid_token
from app.auth.tokens import InvalidToken
from app.pagination import DEFAULT_LIMIT
from app.profiles import service
from app.profiles.schema import (
    PartnerProfile,
    PartnerProfilePage,
    ProfileCreate,
    ProfileCreated,
)
from app.routing import LeanRoute

router = APIRouter()
# The partner read, the hot path: a LeanRoute (app/routing.py) that main.py serves first.
hot_router = APIRouter(route_class=LeanRoute)

_READ_ERRORS = token(S.PROFILES_READ) | problem(
    503, "The access event could not be recorded; nothing was disclosed"
)


class JSONBytes(Response):
    media_type = "application/json"


@router.post(
    "/v1/profiles",
    tags=["profiles"],
    status_code=201,
    response_model=ProfileCreated,
    responses={
        **token(S.PROFILES_CREATE),
        **problem(422, "Invalid profile, or a PIN that is malformed or too easy"),
    },
)
async def create_profile(body: ProfileCreate, principal: Kiosk, session: Session) -> dict[str, Any]:
    """Create a leaver's profile at the prison kiosk.

    Answers the new profile's `id` and its `reference` (`ONW-XXXX-XXXX`), printed for the
    leaver, who signs in with it and their PIN. The PIN (6–12 digits; not a common PIN, a
    repeated digit or a run) is stored only as an Argon2id hash. The kiosk cannot read the
    profile back. `data.progress` is read-only and refused here.
    """
    return await service.create_profile(
        session,
        pin=body.pin,
        data=body.data,
        client_id=principal.client_id,
    )


@hot_router.get(
    "/v1/profiles/{profile_id}",
    tags=["profiles"],
    response_model=PartnerProfile,
    responses={
        **_READ_ERRORS,
        **problem(404, "No such profile, or no active grant to your organisation"),
    },
)
async def read_profile(
    profile_id: str, caller: PartnerReaderUnconfirmed, request: Request
) -> JSONBytes:
    """The fields of one profile that its owner has shared with your organisation.

    `data` holds exactly the leaves covered by your organisation's active grants (their
    union) that the profile holds, nested as in the profile; `disclosed_fields` lists
    them. `version` and `updated_at` describe *your organisation's* cut: they move when
    what you can see changes (a shared leaf edited, a grant added, revoked or expired),
    never when the leaver edits something you were not given. Each read is written to the
    leaver's access log before it is answered; if it cannot be, the read fails with 503.
    A profile without an active grant to your organisation answers 404, exactly like one
    that does not exist.
    """
    try:
        body = await service.read_for_partner(request.app.state.db, caller, profile_id)
    except InvalidToken as exc:
        raise invalid_token() from exc
    return JSONBytes(body)


@router.get(
    "/v1/profiles",
    tags=["profiles"],
    response_model=PartnerProfilePage,
    responses=_READ_ERRORS,
)
async def list_profiles(
    principal: PartnerReader,
    session: Session,
    updated_since: Annotated[
        DateTimeParam,
        Query(description="Only profiles updated at or after this instant (RFC 3339)."),
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Every profile shared with your organisation, the most recently changed cut first.

    Each item is the same view as `GET /v1/profiles/{id}`; one access event is written per
    profile returned. `updated_since` compares with your organisation's `updated_at`, so a
    profile newly shared with you after that instant is listed too. A cut that changes
    while you page through moves to the front of the order: to synchronise, page with
    `updated_since` set to your last run's start time.
    """
    page = await service.list_for_partner(
        session, principal, updated_since=updated_since, limit=limit, cursor=cursor
    )
    return JSONBytes(service.render(page))
