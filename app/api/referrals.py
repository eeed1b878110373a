"""Referrals and progress readings: plan and track (API.md §5)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.api.deps import Leaver, ReferralReader, ReferralWriter
from app.api.params import Cursor, Limit
from app.api.problems import problem, token
from app.api.session import Session
from app.auth import scopes as S
from app.pagination import DEFAULT_LIMIT
from app.referrals import progress, service
from app.referrals.schemas import (
    ProgressCreate,
    ProgressReading,
    ProgressReadingPage,
    ProviderReferral,
    ProviderReferralPage,
    Referral,
    ReferralCreate,
    ReferralPage,
    StatusChange,
)
from app.referrals.status import ReferralStatus

router = APIRouter(tags=["referrals"])

_LEAVER = token(S.SELF)
_NOT_FOUND = problem(404, "No such referral, or not yours (the same answer)")
StatusFilter = Annotated[
    ReferralStatus | None, Query(description="Only referrals in this status; all when absent.")
]


# --- the leaver: ask and track --------------------------------------------------------


@router.post(
    "/v1/me/referrals",
    status_code=201,
    response_model=Referral,
    responses={
        **_LEAVER,
        **problem(
            409,
            "You already have an open referral (pending, accepted or in progress) to this "
            "offer; nothing was created",
        ),
        **problem(
            412,
            "The offer has changed since the `offer_version` you were shown; nothing was "
            "created. Read the offer again, show it, and ask again with its current version",
        ),
        **problem(
            422,
            "The offer does not exist or is not taking referrals (draft, "
            "paused, withdrawn or outside its dates: the same answer); `fields` or "
            "`offer_version` missing; an unknown field; or "
            "`/problems/explicit-consent-required` when `fields` reach special-category or "
            'criminal-offence data without `"explicit": true`. Nothing was created',
        ),
    },
)
async def create_referral(
    body: ReferralCreate, principal: Leaver, session: Session, request: Request
) -> object:
    """Ask a provider for one of its offers, sharing exactly what you agreed to.

    Send the offer's `version` you were shown as `offer_version`, and the `fields` you
    were shown and agreed to share (usually the offer's `required_fields`, or fewer; see
    GET /v1/consent/fields). Both are required: nothing is ever taken from the offer
    itself, so a provider changing its offer cannot change what you share.

    One transaction creates the referral (`pending`, with your message) and a consent
    grant with purpose `referral` to the offer's organisation for exactly `fields`,
    validated like any grant: an unknown path is 422, and special-category or
    criminal-offence data needs `"explicit": true` (else 422
    `/problems/explicit-consent-required`, as POST /v1/me/consents answers). Its receipt
    says `collection_method: "referral"`. The grant (`grant_id`) is listed in
    GET /v1/me/consents, runs 365 days, and is revoked when you withdraw the referral or the
    provider declines, closes or completes it. The provider's reads under it, and each time
    it opens or lists the referral (`referral.read`), appear in your access log.

    * **412** when the offer has changed since `offer_version`: nothing is created; read
      the offer again and ask with its current version.
    * **409** when you already have an open referral (pending, accepted or in progress)
      to this offer: nothing is created; withdraw it first to ask again.

    A full offer (see `full` in the catalogue) still takes referrals: they wait as
    `pending` until the provider has room.
    """
    return await service.create_referral(
        session,
        request.app.state.receipts,
        principal,
        offer_id=body.offer_id,
        offer_version=body.offer_version,
        fields=list(body.fields),
        message=body.message,
        explicit=bool(body.explicit),
    )


@router.get("/v1/me/referrals", response_model=ReferralPage, responses=_LEAVER)
async def list_my_referrals(
    principal: Leaver,
    session: Session,
    status: StatusFilter = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> object:
    """Your referrals, newest first, each with its full history (oldest first): every
    status it entered, when, and the provider's note to you."""
    items, next_cursor = await service.list_referrals(
        session, principal, status=status, limit=limit, cursor=cursor
    )
    return {"items": items, "next_cursor": next_cursor}


@router.get(
    "/v1/me/referrals/{referral_id}",
    response_model=Referral,
    responses=_LEAVER | _NOT_FOUND,
)
async def read_my_referral(referral_id: str, principal: Leaver, session: Session) -> object:
    """One of your referrals, with its full history."""
    return await service.get_referral(session, principal, service.parse_referral_id(referral_id))


@router.post(
    "/v1/me/referrals/{referral_id}/withdraw",
    response_model=Referral,
    responses={
        **_LEAVER,
        **_NOT_FOUND,
        **problem(409, "The provider has already declined, completed or closed it"),
    },
)
async def withdraw_referral(
    request: Request, referral_id: str, principal: Leaver, session: Session
) -> object:
    """Withdraw a referral that is still open (pending, accepted or in progress).

    Its status becomes `withdrawn` and its grant is revoked in the same transaction: from
    the next request on, the provider reads nothing more under it. Withdrawing again
    changes nothing and answers the same referral. A referral the provider has already
    declined, completed or closed cannot be withdrawn (409); revoke its grant through
    POST /v1/me/consents/{id}/revoke if you no longer want to share.
    """
    return await service.withdraw_referral(
        session, request.app.state.receipts, principal, service.parse_referral_id(referral_id)
    )


# --- the provider: work them ----------------------------------------------------------


@router.get("/v1/referrals", response_model=ProviderReferralPage, responses=token(S.REFERRALS_READ))
async def list_referrals(
    principal: ReferralReader,
    session: Session,
    status: StatusFilter = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> object:
    """Referrals to your organisation, newest first, each with the leaver's `profile_id`
    (read what they shared with GET /v1/profiles/{profile_id}, scope `profiles:read`).

    Every referral listed appends a `referral.read` event to that leaver's access log
    (`fields` is `["referral.message"]` when its message was shown to you). Once the
    referral's grant has ended (withdrawn, declined, closed or completed, or the leaver
    revoked it, or it expired) you still see its status and history, but `message` is
    null."""
    items, next_cursor = await service.list_referrals(
        session, principal, status=status, limit=limit, cursor=cursor
    )
    return {"items": items, "next_cursor": next_cursor}


@router.get(
    "/v1/referrals/{referral_id}",
    response_model=ProviderReferral,
    responses=token(S.REFERRALS_READ) | _NOT_FOUND,
)
async def read_referral(referral_id: str, principal: ReferralReader, session: Session) -> object:
    """One referral to your organisation (another organisation's is 404).

    Opening it appends a `referral.read` event to the leaver's access log (`fields` is
    `["referral.message"]` when its message was shown to you). Once the referral's grant
    has ended, `message` is null; status and history stay visible."""
    return await service.get_referral(session, principal, service.parse_referral_id(referral_id))


@router.post(
    "/v1/referrals/{referral_id}/status",
    response_model=ProviderReferral,
    responses={
        **token(S.REFERRALS_WRITE),
        **_NOT_FOUND,
        **problem(409, "Not a move the referral's current status allows"),
    },
)
async def update_referral_status(
    request: Request,
    referral_id: str,
    body: StatusChange,
    principal: ReferralWriter,
    session: Session,
) -> object:
    """Move a referral to your organisation one step on:

    * `pending` → `accepted` or `declined`
    * `accepted` → `in_progress` or `closed`
    * `in_progress` → `completed` or `closed`

    Any other move (including to the status it already has, or after the leaver withdrew)
    is 409. The move is recorded with your client, the time and your `note`, which the
    leaver sees in the referral's history. Capacity is yours to manage: accepting beyond an
    offer's `capacity` is allowed, and the offer then shows `full`.

    A move that ends the referral (`declined`, `completed`, `closed`) revokes the consent
    grant the leaver made with it: from the next request, `GET /v1/profiles/{id}` no longer
    discloses those fields to you (other grants the leaver gave you are untouched), and
    the referral's `message` is null from this answer on.

    The answer shows you the referral, so it is recorded in the leaver's access log as a
    `referral.read`, like GET /v1/referrals/{id}.
    """
    return await service.move_referral(
        session,
        request.app.state.receipts,
        principal,
        service.parse_referral_id(referral_id),
        status=body.status,
        note=body.note,
    )


# --- progress -------------------------------------------------------------------------


@router.post(
    "/v1/me/progress",
    status_code=201,
    response_model=ProgressReading,
    responses=_LEAVER | problem(422, "Unknown area or score outside 1–10"),
)
async def record_progress(body: ProgressCreate, principal: Leaver, session: Session) -> object:
    """Record a progress reading: any of the ten areas, each scored 1–10.

    The newest reading becomes the profile field `progress.latest`, which the leaver can
    share through a consent grant like any other field, so no organisation has to assess
    them again.
    """
    reading = await progress.record_progress(
        session, principal.profile_id, {str(k): v for k, v in body.readings.items()}
    )
    return progress.reading_view(reading)


@router.get("/v1/me/progress", response_model=ProgressReadingPage, responses=_LEAVER)
async def list_progress(
    principal: Leaver, session: Session, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> object:
    """The leaver's progress readings, newest first."""
    rows, next_cursor = await progress.list_progress(session, principal.profile_id, limit, cursor)
    return {"items": [progress.reading_view(r) for r in rows], "next_cursor": next_cursor}
