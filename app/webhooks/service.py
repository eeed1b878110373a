"""Webhook subscriptions: register, list, delete, rotate the secret, read the attempts.

Every function takes the caller's organisation, and every statement is scoped to it in
``webhooks.repository`` (the one choke point for "whose webhook is this"): another
organisation's webhook is NotFound, exactly as if it did not exist.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound, ValidationFailed
from app.pagination import page_of
from app.webhooks import repository
from app.webhooks.signing import new_secret
from app.webhooks.urls import UnsafeURL, check_form, resolve


def _not_found() -> NotFound:
    return NotFound("No such webhook")


def parse_webhook_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise _not_found() from exc


async def check_url(url: str, *, allow_private: bool) -> None:
    """ValidationFailed unless ``url`` is one we may deliver to (``webhooks.urls``).

    With ``allow_private`` (development and tests) only its form is checked: what it
    resolves to does not matter then, and is resolved again at every delivery anyway.
    """
    try:
        if allow_private:
            check_form(url, allow_private=True)
        else:
            await resolve(url, allow_private=False)
    except UnsafeURL as exc:
        raise ValidationFailed(str(exc), loc=["body", "url"]) from exc


def _view(webhook: Any) -> dict[str, Any]:
    """The API's view of a webhook (a row of ``webhooks``), never its secret."""
    return {
        "id": webhook.id,
        "url": webhook.url,
        "events": list(webhook.events),
        "description": webhook.description,
        "active": webhook.active,
        "disabled_reason": webhook.disabled_reason,
        "created_at": webhook.created_at,
    }


async def create_webhook(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    *,
    url: str,
    events: list[str],
    description: str | None,
    allow_private: bool,
) -> dict[str, Any]:
    """A new active webhook and its secret (returned this once)."""
    await check_url(url, allow_private=allow_private)
    webhook = await repository.insert_webhook(
        session,
        organisation_id=organisation_id,
        url=url,
        events=list(dict.fromkeys(events)),
        description=description,
        secret=new_secret(),
        active=True,
    )
    return {**_view(webhook), "secret": webhook.secret}


async def list_webhooks(
    session: AsyncSession, organisation_id: uuid.UUID, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    rows = await repository.page_of_webhooks(session, organisation_id, limit=limit, cursor=cursor)
    page, next_cursor = page_of(rows, limit, lambda w: (w.created_at, w.id))
    return {"items": [_view(w) for w in page], "next_cursor": next_cursor}


async def delete_webhook(
    session: AsyncSession, organisation_id: uuid.UUID, webhook_id: uuid.UUID
) -> None:
    """Delete the webhook with its pending messages and attempt history."""
    if not await repository.delete_webhook(session, organisation_id, webhook_id):
        raise _not_found()


async def rotate_secret(
    session: AsyncSession, organisation_id: uuid.UUID, webhook_id: uuid.UUID
) -> dict[str, Any]:
    """A new secret, from the next delivery attempt on (retries included)."""
    secret = new_secret()
    if not await repository.set_secret(session, organisation_id, webhook_id, secret):
        raise _not_found()
    return {"id": webhook_id, "secret": secret}


async def list_attempts(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    webhook_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """The webhook's delivery attempts, newest first."""
    if not await repository.webhook_exists(session, organisation_id, webhook_id):
        raise _not_found()
    rows = await repository.page_of_attempts(
        session, organisation_id, webhook_id, limit=limit, cursor=cursor
    )
    page, next_cursor = page_of(rows, limit, lambda r: (r.seq,))
    items = [
        {
            "id": r.id,
            "message_id": r.delivery_id,
            "type": r.type,
            "attempted_at": r.attempted_at,
            "status_code": r.status_code,
            "outcome": r.outcome,
        }
        for r in page
    ]
    return {"items": items, "next_cursor": next_cursor}
