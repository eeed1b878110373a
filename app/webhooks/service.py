"""Webhook subscriptions: register, list, delete, rotate the secret, read the attempts.

Every function takes the caller's organisation and goes through :func:`_owned`, the one
choke point for "whose webhook is this": another organisation's webhook is NotFound,
exactly as if it did not exist.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound, ValidationFailed
from app.models.webhooks import Webhook, WebhookAttempt, WebhookDelivery
from app.pagination import newest_first, page_of
from app.webhooks.signing import new_secret
from app.webhooks.urls import UnsafeURL, check_form, resolve


def _not_found() -> NotFound:
    return NotFound("No such webhook")


def parse_webhook_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise _not_found() from exc


def _owned(organisation_id: uuid.UUID, webhook_id: uuid.UUID) -> Select[Webhook]:
    return select(Webhook).where(
        Webhook.id == webhook_id, Webhook.organisation_id == organisation_id
    )


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


def _view(webhook: Webhook) -> dict[str, Any]:
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
    webhook = Webhook(
        organisation_id=organisation_id,
        url=url,
        events=list(dict.fromkeys(events)),
        description=description,
        secret=new_secret(),
        active=True,
    )
    session.add(webhook)
    await session.flush()
    await session.refresh(webhook)
    return {**_view(webhook), "secret": webhook.secret}


async def list_webhooks(
    session: AsyncSession, organisation_id: uuid.UUID, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    statement = select(Webhook).where(Webhook.organisation_id == organisation_id)
    order = (Webhook.created_at, Webhook.id)
    rows = (await session.scalars(newest_first(statement, order, limit=limit, cursor=cursor))).all()
    page, next_cursor = page_of(rows, limit, lambda w: (w.created_at, w.id))
    return {"items": [_view(w) for w in page], "next_cursor": next_cursor}


async def delete_webhook(
    session: AsyncSession, organisation_id: uuid.UUID, webhook_id: uuid.UUID
) -> None:
    """Delete the webhook with its pending messages and attempt history."""
    deleted = (
        await session.execute(
            delete(Webhook)
            .where(Webhook.id == webhook_id, Webhook.organisation_id == organisation_id)
            .returning(Webhook.id)
        )
    ).scalar_one_or_none()
    if deleted is None:
        raise _not_found()


async def rotate_secret(
    session: AsyncSession, organisation_id: uuid.UUID, webhook_id: uuid.UUID
) -> dict[str, Any]:
    """A new secret, from the next delivery attempt on (retries included)."""
    secret = new_secret()
    updated = (
        await session.execute(
            update(Webhook)
            .where(Webhook.id == webhook_id, Webhook.organisation_id == organisation_id)
            .values(secret=secret)
            .returning(Webhook.id)
        )
    ).scalar_one_or_none()
    if updated is None:
        raise _not_found()
    return {"id": updated, "secret": secret}


async def list_attempts(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    webhook_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """The webhook's delivery attempts, newest first."""
    if (await session.execute(_owned(organisation_id, webhook_id))).first() is None:
        raise _not_found()
    statement = (
        select(
            WebhookAttempt.seq,
            WebhookAttempt.id,
            WebhookAttempt.delivery_id,
            WebhookDelivery.type,
            WebhookAttempt.attempted_at,
            WebhookAttempt.status_code,
            WebhookAttempt.outcome,
        )
        .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
        .where(WebhookAttempt.webhook_id == webhook_id)
    )
    rows = (
        await session.execute(
            newest_first(statement, (WebhookAttempt.seq,), limit=limit, cursor=cursor)
        )
    ).all()
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
