"""The field catalogue, the purposes, and the leaver's consent grants (API.md §2, §3)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from app.api.deps import Leaver
from app.api.params import Cursor, Limit
from app.api.problems import problem, token
from app.api.session import Session
from app.auth import scopes as S
from app.consent import service
from app.consent.catalogue import FIELDS, PURPOSES
from app.consent.schemas import FieldInfo, Grant, GrantCreate, GrantPage, PurposeInfo
from app.errors import NotFound
from app.pagination import DEFAULT_LIMIT

router = APIRouter()

PUBLIC_CACHE = "public, max-age=300"
_FIELDS = [
    {
        "path": f.path,
        "section": f.section,
        "label": f.label,
        "sensitivity": f.sensitivity,
        "description": f.description,
    }
    for f in FIELDS
]
_PURPOSES = [{"code": p.code, "label": p.label, "description": p.description} for p in PURPOSES]

_PROBLEMS = token(S.SELF)


@router.get("/v1/consent/fields", tags=["consent"], response_model=list[FieldInfo])
async def list_fields(response: Response) -> list[dict[str, str]]:
    """Every consentable leaf of the profile, in catalogue order. No token needed.

    A grant may name a leaf (`contact.phone`) or a section (`contact`), which stands for
    all of its leaves. `special_category` (health, drugs and alcohol, the leaver's story)
    and `criminal_offence` (the offence section) leaves need `"explicit": true` to share.
    """
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return _FIELDS


@router.get("/v1/consent/purposes", tags=["consent"], response_model=list[PurposeInfo])
async def list_purposes(response: Response) -> list[dict[str, str]]:
    """The purposes a leaver may share for. No token needed."""
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return _PURPOSES


@router.post(
    "/v1/me/consents",
    tags=["consent"],
    status_code=201,
    response_model=Grant,
    responses={
        **_PROBLEMS,
        **problem(
            422,
            "Unknown path, purpose or organisation; bad expiry; or "
            "`/problems/explicit-consent-required` when sensitive data is shared without "
            '`"explicit": true`',
        ),
    },
)
async def create_grant(
    body: GrantCreate, principal: Leaver, session: Session, request: Request
) -> dict[str, Any]:
    """Share fields of your profile with an organisation, for a purpose, until a date.

    `expires_at` defaults to 365 days from now and may be at most 730 days on. The answer
    carries a `receipt`: a compact JWS (ES256) signed with the service key, verifiable
    with `/.well-known/jwks.json`, whose payload records the grant (ISO/IEC TS 27560 /
    Kantara consent receipt fields: `grant_id`, `sub`, `recipient`, `fields`, `purpose`,
    `granted_at`, `expires_at`, `policy_version`, `jurisdiction`, `iss`, `iat`, …).
    """
    return await service.grant_consent(
        session,
        request.app.state.receipts,
        profile_id=principal.profile_id,
        organisation_id=body.organisation_id,
        fields=body.fields,
        purpose=body.purpose,
        expires_at=body.expires_at,
        explicit=bool(body.explicit),
    )


@router.get("/v1/me/consents", tags=["consent"], response_model=GrantPage, responses=_PROBLEMS)
async def list_grants(
    principal: Leaver,
    session: Session,
    status: Annotated[
        Literal["active", "revoked", "expired"] | None,
        Query(description="Only grants in this status; all of them when absent."),
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Every grant you have made — active, revoked and expired — newest first."""
    items, next_cursor = await service.list_grants(
        session, profile_id=principal.profile_id, status=status, limit=limit, cursor=cursor
    )
    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "/v1/me/consents/{grant_id}/revoke",
    tags=["consent"],
    response_model=Grant,
    responses=_PROBLEMS | problem(404, "No such grant of yours"),
)
async def revoke_grant(
    request: Request, grant_id: str, principal: Leaver, session: Session
) -> dict[str, Any]:
    """Withdraw a grant at once: from the next request on, it discloses nothing.

    Idempotent: revoking again changes nothing and answers the same grant, with the
    original `revoked_at` and `revocation_receipt` (a signed record of when sharing
    stopped, verifiable with the JWKS like the grant's receipt). An expired grant can still
    be revoked (it then reads `revoked`).
    """
    try:
        grant_uuid = uuid.UUID(grant_id)
    except ValueError:
        raise NotFound("No such consent grant") from None
    return await service.revoke_grant(
        session,
        request.app.state.receipts,
        profile_id=principal.profile_id,
        grant_id=grant_uuid,
    )
