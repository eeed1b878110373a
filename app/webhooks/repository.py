"""Every statement of the webhooks domain: subscriptions, the outbox, delivery and the feed.

SQLAlchemy Core over the tables of ``app.models`` (no ORM unit of work, no SQL text).
Everything done on behalf of an organisation (its webhooks, their attempts, its change
feed) takes the organisation and is scoped to it here, so another organisation's webhook
is simply not found. The outbox and delivery statements are the worker's and the
enqueuing code's, on behalf of no caller.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Row,
    Select,
    SmallInteger,
    Table,
    Text,
    delete,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.identity import Organisation
from app.models.profiles import ProfileChange
from app.models.webhooks import Webhook, WebhookAttempt, WebhookDelivery
from app.pagination import newest_first

_webhooks = cast(Table, Webhook.__table__)
_deliveries = cast(Table, WebhookDelivery.__table__)
_attempts = cast(Table, WebhookAttempt.__table__)
_organisations = cast(Table, Organisation.__table__)
_changes = cast(Table, ProfileChange.__table__)

# A row of a statement below, read by column name.
Record = Row[*tuple[Any, ...]]

# What a webhook is shown as (never its secret).
_WEBHOOK_COLUMNS = (
    _webhooks.c.id,
    _webhooks.c.url,
    _webhooks.c.events,
    _webhooks.c.description,
    _webhooks.c.active,
    _webhooks.c.disabled_reason,
    _webhooks.c.created_at,
)

# The outbox's partial index (``ix_webhook_deliveries_due``) covers pending rows only. The
# planner uses it only where the query's own predicate says ``status = 'pending'``, which a
# bound parameter does not (under a generic plan), so the value is rendered into the
# statement, by SQLAlchemy, from this constant.
_PENDING = literal("pending", literal_execute=True)


# --- subscriptions: the one choke point -----------------------------------------------


def _owned(organisation_id: uuid.UUID) -> ColumnElement[bool]:
    """The one choke point: only the organisation's own webhooks."""
    return _webhooks.c.organisation_id == organisation_id


async def insert_webhook(session: AsyncSession, **values: Any) -> Record:
    """Store a new webhook; it as shown, with its secret."""
    statement = insert(_webhooks).values(**values).returning(*_WEBHOOK_COLUMNS, _webhooks.c.secret)
    return (await session.execute(statement)).one()


async def page_of_webhooks(
    session: AsyncSession, organisation_id: uuid.UUID, *, limit: int, cursor: str | None
) -> Sequence[Record]:
    """Up to ``limit + 1`` of the organisation's webhooks, newest first."""
    statement: Select[Any] = select(*_WEBHOOK_COLUMNS).where(_owned(organisation_id))
    order = (Webhook.created_at, Webhook.id)
    rows: Sequence[Record] = (
        await session.execute(newest_first(statement, order, limit=limit, cursor=cursor))
    ).all()
    return rows


async def webhook_exists(
    session: AsyncSession, organisation_id: uuid.UUID, webhook_id: uuid.UUID
) -> bool:
    statement = select(_webhooks.c.id).where(_owned(organisation_id), _webhooks.c.id == webhook_id)
    return (await session.execute(statement)).first() is not None


async def delete_webhook(
    session: AsyncSession, organisation_id: uuid.UUID, webhook_id: uuid.UUID
) -> bool:
    """Delete the webhook (its outbox rows and attempts go with it); False if not found."""
    statement = (
        delete(_webhooks)
        .where(_owned(organisation_id), _webhooks.c.id == webhook_id)
        .returning(_webhooks.c.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def set_secret(
    session: AsyncSession, organisation_id: uuid.UUID, webhook_id: uuid.UUID, secret: str
) -> bool:
    """Replace the webhook's secret; False if not found."""
    statement = (
        update(_webhooks)
        .where(_owned(organisation_id), _webhooks.c.id == webhook_id)
        .values(secret=secret)
        .returning(_webhooks.c.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def page_of_attempts(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    webhook_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> Sequence[Record]:
    """Up to ``limit + 1`` attempts at the organisation's webhook, newest first."""
    statement: Select[Any] = (
        select(
            _attempts.c.seq,
            _attempts.c.id,
            _attempts.c.delivery_id,
            _deliveries.c.type,
            _attempts.c.attempted_at,
            _attempts.c.status_code,
            _attempts.c.outcome,
        )
        .join_from(_attempts, _deliveries, _deliveries.c.id == _attempts.c.delivery_id)
        .join(_webhooks, _webhooks.c.id == _attempts.c.webhook_id)
        .where(_attempts.c.webhook_id == webhook_id, _owned(organisation_id))
    )
    order = (WebhookAttempt.seq,)
    rows: Sequence[Record] = (
        await session.execute(newest_first(statement, order, limit=limit, cursor=cursor))
    ).all()
    return rows


# --- the outbox -----------------------------------------------------------------------


async def enqueue(session: AsyncSession, organisation_id: uuid.UUID, event: str, body: str) -> None:
    """One outbox row per active webhook of the (active) organisation subscribed to
    ``event``, due at once; one statement, which finds nothing for most organisations."""
    subscribed = (
        select(
            func.gen_random_uuid(),
            _webhooks.c.id,
            literal(event),
            literal(body),
            func.now(),
            func.now(),
        )
        .join_from(_webhooks, _organisations, _organisations.c.id == _webhooks.c.organisation_id)
        .where(
            _webhooks.c.organisation_id == organisation_id,
            _webhooks.c.active,
            _organisations.c.active,
            _webhooks.c.events.any_() == event,
        )
    )
    await session.execute(
        insert(_deliveries).from_select(
            ["id", "webhook_id", "type", "body", "next_attempt_at", "created_at"], subscribed
        )
    )


# --- delivery (the worker) ------------------------------------------------------------


async def claim_due(
    session: AsyncSession, *, now: datetime, limit: int, lease_until: datetime
) -> Sequence[Record]:
    """Claim up to ``limit`` due rows of active webhooks of active organisations and lease
    them until ``lease_until`` (one more attempt each), in one statement.

    ``FOR UPDATE SKIP LOCKED``: replicas claiming at the same instant take disjoint rows.
    Each claimed row: id, webhook_id, body, attempts, created_at, url, secret.
    """
    due = (
        select(_deliveries.c.id)
        .join_from(_deliveries, _webhooks, _webhooks.c.id == _deliveries.c.webhook_id)
        .join(_organisations, _organisations.c.id == _webhooks.c.organisation_id)
        .where(
            _deliveries.c.status == _PENDING,
            _deliveries.c.next_attempt_at <= now,
            _webhooks.c.active,
            _organisations.c.active,
        )
        .order_by(_deliveries.c.next_attempt_at)
        .limit(limit)
        .with_for_update(of=_deliveries, skip_locked=True)
        .cte("due")
    )
    statement = (
        update(_deliveries)
        .where(_deliveries.c.id == due.c.id, _webhooks.c.id == _deliveries.c.webhook_id)
        .values(next_attempt_at=lease_until, attempts=_deliveries.c.attempts + 1)
        .returning(
            _deliveries.c.id,
            _deliveries.c.webhook_id,
            _deliveries.c.body,
            _deliveries.c.attempts,
            _deliveries.c.created_at,
            _webhooks.c.url,
            _webhooks.c.secret,
        )
    )
    return (await session.execute(statement)).all()


async def record_attempt(
    session: AsyncSession,
    *,
    delivery_id: uuid.UUID,
    at: datetime,
    status_code: int | None,
    outcome: str,
) -> None:
    """One attempt at a delivery. INSERT … SELECT: a delivery deleted meanwhile (its
    webhook was deleted) records nothing."""
    attempt = select(
        literal(uuid.uuid4(), UUID(as_uuid=True)),
        _deliveries.c.webhook_id,
        _deliveries.c.id,
        literal(at, _attempts.c.attempted_at.type),
        literal(status_code, SmallInteger),
        literal(outcome, _attempts.c.outcome.type),
    ).where(_deliveries.c.id == delivery_id)
    await session.execute(
        insert(_attempts).from_select(
            ["id", "webhook_id", "delivery_id", "attempted_at", "status_code", "outcome"],
            attempt,
        )
    )


async def mark_delivered(session: AsyncSession, delivery_id: uuid.UUID, at: datetime) -> None:
    await session.execute(
        update(_deliveries)
        .where(_deliveries.c.id == delivery_id, _deliveries.c.status == "pending")
        .values(status="delivered", delivered_at=at, next_attempt_at=None)
    )


async def mark_failed(
    session: AsyncSession, delivery_id: uuid.UUID, *, status: str, retry_at: datetime | None
) -> None:
    """A failed attempt: due again at ``retry_at`` (status pending), or given up."""
    await session.execute(
        update(_deliveries)
        .where(_deliveries.c.id == delivery_id, _deliveries.c.status == "pending")
        .values(status=status, next_attempt_at=retry_at)
    )


async def endpoint_ok(session: AsyncSession, webhook_id: uuid.UUID) -> None:
    await session.execute(
        update(_webhooks).where(_webhooks.c.id == webhook_id).values(failing_since=None)
    )


async def endpoint_failed(
    session: AsyncSession, webhook_id: uuid.UUID, at: datetime
) -> datetime | None:
    """Note a failure; since when the endpoint has been failing (None if it is gone)."""
    statement = (
        update(_webhooks)
        .where(_webhooks.c.id == webhook_id)
        .values(failing_since=func.coalesce(_webhooks.c.failing_since, at))
        .returning(_webhooks.c.failing_since)
    )
    failing_since: datetime | None = (await session.execute(statement)).scalar_one_or_none()
    return failing_since


async def disable(session: AsyncSession, webhook_id: uuid.UUID, at: datetime, reason: str) -> None:
    await session.execute(
        update(_webhooks)
        .where(_webhooks.c.id == webhook_id, _webhooks.c.active)
        .values(active=False, disabled_at=at, disabled_reason=reason)
    )


# --- the change feed ------------------------------------------------------------------

# The reading statement's snapshot xmin: every transaction below it has ended.
_SNAPSHOT_XMIN: ColumnElement[int] = sql_cast(
    sql_cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger
)


async def settled_changes(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    *,
    after: tuple[int, int] | None,
    limit: int,
) -> Sequence[Record]:
    """Up to ``limit`` of the organisation's change-feed items after the ``(txid, seq)``
    position ``after``, in that order, of transactions below the statement's snapshot
    ``xmin`` only (``webhooks.feed`` says why)."""
    statement = (
        select(
            _changes.c.id,
            _changes.c.at,
            _changes.c.type,
            _changes.c.profile_id,
            _changes.c.txid,
            _changes.c.seq,
        )
        .where(
            _changes.c.organisation_id == organisation_id,
            _changes.c.txid < func.coalesce(_SNAPSHOT_XMIN, 0),
        )
        .order_by(_changes.c.txid, _changes.c.seq)
        .limit(limit)
    )
    if after is not None:
        statement = statement.where(tuple_(_changes.c.txid, _changes.c.seq) > after)
    return (await session.execute(statement)).all()
