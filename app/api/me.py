"""The leaver's own profile and access log (scope `self`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.encoders import jsonable_encoder

from app.api.deps import Leaver
from app.api.params import Cursor, Limit
from app.api.problems import problem, token
from app.api.session import Session
from app.audit.log import access_log
from app.audit.schemas import AccessLogPage
from app.auth import scopes as S
from app.errors import UnsupportedMediaType, ValidationFailed
from app.etags import require_if_match
from app.pagination import DEFAULT_LIMIT
from app.profiles import service
from app.profiles.erasure import erase_profile
from app.profiles.export import export_record
from app.profiles.schema import Erasure, OwnProfile

router = APIRouter()

MERGE_PATCH = "application/merge-patch+json"
_ETAG: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            "ETag": {
                "description": 'The profile version, e.g. `"3"`; send it back as If-Match.',
                "schema": {"type": "string"},
            }
        }
    }
}
_AUTH = token(S.SELF) | problem(404, "The profile no longer exists")


def etag(version: int) -> str:
    return f'"{version}"'


@router.get(
    "/v1/me",
    tags=["me"],
    response_model=OwnProfile,
    response_model_exclude_none=True,
    responses={**_ETAG, **_AUTH},
)
async def read_me(principal: Leaver, session: Session, response: Response) -> dict[str, Any]:
    """Your profile as you gave it, with its `ETag` (send it back as `If-Match` to update)."""
    profile = await service.get_own_profile(session, principal.profile_id)
    response.headers["ETag"] = etag(profile["version"])
    return profile


@router.patch(
    "/v1/me",
    tags=["me"],
    response_model=OwnProfile,
    response_model_exclude_none=True,
    responses={
        **_ETAG,
        **_AUTH,
        **problem(412, "If-Match does not match the current version"),
        **problem(415, "Not application/merge-patch+json (or application/json)"),
        **problem(422, "Not valid JSON, or the patched profile is not valid"),
        **problem(428, "If-Match is missing"),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            # One media type: generators write broken code for a body with two (the
            # description says application/json is accepted too).
            "content": {MERGE_PATCH: {"schema": {"$ref": "#/components/schemas/ProfileData"}}},
        }
    },
)
async def patch_me(
    request: Request,
    principal: Leaver,
    session: Session,
    response: Response,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> dict[str, Any]:
    """Change your profile once; every organisation you share with sees the change.

    The body is a JSON merge patch of `data` (RFC 7396): `{"contact": {"phone": "07700
    900123"}}` sets one value, `null` removes one. The whole result must still be a valid
    profile. `If-Match` with the ETag you read is required (428 without, 412 when the
    profile changed since). `application/json` is accepted as well as
    `application/merge-patch+json`. `progress` is read-only here: it is recorded through
    `POST /v1/me/progress`.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in (MERGE_PATCH, "application/json"):
        raise UnsupportedMediaType(f"Send the patch as {MERGE_PATCH}")
    expected = require_if_match(if_match, "Send If-Match with the ETag of the profile you read")
    try:
        patch = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: nesting deeper than any profile (and than the parser's stack).
        raise ValidationFailed("The body is not valid JSON", loc=["body"]) from None
    profile = await service.patch_own_profile(
        session, principal.profile_id, patch, if_match=expected
    )
    response.headers["ETag"] = etag(profile["version"])
    return profile


@router.delete(
    "/v1/me",
    tags=["me"],
    summary="Erase your profile",
    response_model=Erasure,
    responses={
        **_AUTH,
        **problem(412, "If-Match does not match the current version"),
        **problem(428, "If-Match is missing"),
    },
)
async def erase_me(
    request: Request,
    principal: Leaver,
    session: Session,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> dict[str, Any]:
    """Erase your profile (UK GDPR Article 17). It cannot be undone.

    `If-Match` with the ETag of the profile you read is required (428 without, 412 when
    the profile changed since), so you erase what you last saw. In one step:

    * every active grant is revoked, each with a signed revocation receipt (returned here
      in `revoked_grants`: you can no longer sign in to fetch them later), and every open
      referral is withdrawn (its provider is told `referral.withdrawn`);
    * every organisation that had an active grant is told `profile.erased` (webhook),
      and its change feed shows `unshared`; its reads of your profile answer 404;
    * your profile's data, your PIN and your progress readings are deleted. Your
      reference can no longer sign in (it answers like a wrong PIN) and is never given to
      anyone else. Every token you hold answers 401 `invalid_token` from now on, and
      signed-in pages are signed out;
    * you get `receipt`, a signed erasure receipt (`type` `erasure`, `sub`, `erased_at`,
      `revoked_grants`, `withdrawn_referrals`), verifiable with the JWKS.

    What is kept: the access log (who looked at what and when: field paths and ids,
    never values; it is the accountability record) and the grants' ids, paths, purposes,
    times and receipts. A provider you were referred to keeps its referral: the offer,
    the status history (each status, when, and which client moved it) ending in
    `withdrawn` if it was open, and the profile id. It keeps no message of yours, no note
    written to you, and no profile data.
    """
    expected = require_if_match(if_match, "Send If-Match with the ETag of the profile you read")
    return await erase_profile(session, request.app.state.receipts, principal, if_match=expected)


@router.get(
    "/v1/me/access-log",
    tags=["me"],
    response_model=AccessLogPage,
    responses=_AUTH,
)
async def read_access_log(
    principal: Leaver,
    session: Session,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Who saw what of your profile, when, and under which grants — newest first."""
    items, next_cursor = await access_log(
        session, profile_id=principal.profile_id, limit=limit, cursor=cursor
    )
    return {"items": items, "next_cursor": next_cursor}


EXPORT_FILENAME = "onward-my-record.json"


def export_response(record: dict[str, Any]) -> Response:
    """The export as a JSON download (shared with the download page)."""
    body = json.dumps(jsonable_encoder(record), indent=2, ensure_ascii=False)
    return Response(
        body.encode(),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{EXPORT_FILENAME}"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/v1/me/export",
    tags=["me"],
    summary="Download your whole record",
    responses={
        200: {
            "description": "Your record as one JSON document (a download)",
            "content": {"application/json": {"schema": {"type": "object"}}},
            "headers": {
                "Content-Disposition": {
                    "description": 'attachment; filename="onward-my-record.json"',
                    "schema": {"type": "string"},
                }
            },
        },
        **_AUTH,
    },
)
async def export_me(principal: Leaver, session: Session) -> Response:
    """Everything Onward holds about you as one JSON document: `profile`, `grants` (with
    their signed receipts), `access_log`, `referrals` and `progress`, sent as a file
    (`Content-Disposition: attachment`). Taking a copy is itself recorded in your access
    log as `profile.exported`."""
    return export_response(await export_record(session, principal.profile_id))
