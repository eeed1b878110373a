"""Webhooks for partners and providers (API.md §9, scope `webhooks:manage`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response, Security

from app.api.deps import require
from app.api.params import Cursor, Limit
from app.api.problems import problem, token
from app.api.session import Session
from app.auth import scopes as S
from app.auth.principal import Principal
from app.pagination import DEFAULT_LIMIT
from app.settings import Settings
from app.webhooks import service
from app.webhooks.schemas import (
    WebhookAttemptPage,
    WebhookCreate,
    WebhookCreated,
    WebhookPage,
    WebhookSecret,
)

router = APIRouter(tags=["webhooks"])

WebhookManager = Annotated[Principal, Security(require, scopes=[S.WEBHOOKS_MANAGE])]

_AUTH = token(S.WEBHOOKS_MANAGE)
_NOT_FOUND = _AUTH | problem(404, "No such webhook, or not your organisation's (the same answer)")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.post(
    "/v1/webhooks",
    status_code=201,
    response_model=WebhookCreated,
    summary="Register a webhook",
    responses=_AUTH
    | problem(
        422,
        "An invalid body, or a URL that is not `https`, does not resolve, or resolves to "
        "an address that is not public (loopback, private, link-local, shared or metadata)",
    ),
)
async def create_webhook(
    body: WebhookCreate, principal: WebhookManager, session: Session, request: Request
) -> Any:
    """Register an endpoint of your organisation's to receive the `events` it names.

    The answer holds `secret` (`whsec_…`): it is shown this once (rotate it with
    `POST /v1/webhooks/{id}/rotate-secret` if it is lost). Onward keeps it to sign your
    deliveries; it is never listed or logged.

    The URL must be `https` and its host must resolve only to public internet addresses:
    loopback, private, link-local (the cloud metadata address included), shared (CGNAT),
    multicast and reserved addresses are refused with 422, and so are IPv6 forms that
    hide one (`::ffff:127.0.0.1`). The check is made again before every delivery, and the
    delivery connects to the address that was checked.

    **What is sent.** A `POST` with a JSON body, ids only — never personal data:

    ```json
    {"type": "profile.shared", "timestamp": "2026-12-02T10:00:00.123456Z",
     "data": {"profile_id": "…", "grant_id": "…"}}
    ```

    `profile.shared` (your organisation's first active grant for a profile), `profile.updated`
    (what you can see of it changed while a grant stays active), `profile.unshared` (your last
    grant ended: revoked, expired or erased) are the change feed's items
    (`GET /v1/profiles/changes`); `referral.created` and `referral.withdrawn` go to the
    provider the referral is to, with `referral_id`; `profile.erased` when a leaver erases
    their profile. `grant_id` is given when one grant made the change. Read what changed
    through `GET /v1/profiles/{id}` (logged) as usual.

    **Signatures** follow Standard Webhooks: headers `webhook-id` (the same on every retry:
    drop duplicates by it), `webhook-timestamp` (Unix seconds) and `webhook-signature`
    (`v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`, keyed with the
    base64-decoded part of the secret after `whsec_`). Verify with a `standardwebhooks`
    library: `Webhook(secret).verify(body, headers)`.

    **Delivery** is at least once, after the change commits. Answer 2xx within 10 s; any other
    answer (a redirect too: they are never followed), a timeout or a refused connection is
    retried after about 5 s, 5 min, 30 min, 2 h, 5 h and 10 h, then given up a day after the
    event. An endpoint whose every attempt fails for three days is disabled (`"active": false`
    with a `disabled_reason`). A disabled organisation's webhooks stop at once.
    """
    return await service.create_webhook(
        session,
        principal.org_id,
        url=body.url,
        events=list(body.events),
        description=body.description,
        allow_private=_settings(request).webhooks_allow_private,
    )


@router.get(
    "/v1/webhooks",
    response_model=WebhookPage,
    summary="List webhooks",
    responses=_AUTH | problem(422, "Invalid limit or cursor"),
)
async def list_webhooks(
    principal: WebhookManager, session: Session, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Any:
    """Your organisation's webhooks, newest first, active or disabled. Secrets are never
    listed. A webhook disabled after three days of failed deliveries shows
    `"active": false` and its `disabled_reason`."""
    return await service.list_webhooks(session, principal.org_id, limit=limit, cursor=cursor)


@router.delete(
    "/v1/webhooks/{webhook_id}",
    status_code=204,
    summary="Delete a webhook",
    responses=_NOT_FOUND,
)
async def delete_webhook(webhook_id: str, principal: WebhookManager, session: Session) -> Response:
    """Delete the webhook: nothing more is sent to it, messages still waiting are
    dropped, and its delivery history goes with it. Answers 204 with no body."""
    await service.delete_webhook(session, principal.org_id, service.parse_webhook_id(webhook_id))
    return Response(status_code=204)


@router.post(
    "/v1/webhooks/{webhook_id}/rotate-secret",
    response_model=WebhookSecret,
    summary="Rotate a webhook's secret",
    responses=_NOT_FOUND,
)
async def rotate_webhook_secret(
    webhook_id: str, principal: WebhookManager, session: Session
) -> Any:
    """A new signing secret, shown this once; the old one stops at once. Every delivery
    attempt from now on, retries of earlier events included, is signed with the new one,
    so a delivery your receiver refuses while you switch over is simply retried."""
    return await service.rotate_secret(
        session, principal.org_id, service.parse_webhook_id(webhook_id)
    )


@router.get(
    "/v1/webhooks/{webhook_id}/deliveries",
    response_model=WebhookAttemptPage,
    summary="List a webhook's delivery attempts",
    responses=_NOT_FOUND | problem(422, "Invalid limit or cursor"),
)
async def list_webhook_deliveries(
    webhook_id: str,
    principal: WebhookManager,
    session: Session,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Any:
    """Every delivery attempt to this webhook, newest first: when, the status code your
    endpoint answered (null when none came), and the outcome. Retries of one event share
    its `message_id` (the `webhook-id` header)."""
    return await service.list_attempts(
        session,
        principal.org_id,
        service.parse_webhook_id(webhook_id),
        limit=limit,
        cursor=cursor,
    )
