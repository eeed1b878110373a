"""Webhook subscriptions, their outbox and every delivery attempt (API.md §9)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt, UUIDPrimaryKey, check_in

WEBHOOK_EVENTS = (
    "profile.shared",
    "profile.updated",
    "profile.unshared",
    "referral.created",
    "referral.withdrawn",
    "profile.erased",
)
DELIVERY_STATUSES = ("pending", "delivered", "failed")
ATTEMPT_OUTCOMES = ("delivered", "http_error", "timeout", "connection_error", "refused")


class Webhook(UUIDPrimaryKey, CreatedAt, Base):
    """An organisation's endpoint and the events it wants.

    ``secret`` is the Standard Webhooks signing key (``whsec_…``). It must be kept in
    clear to sign, so it is as safe as the database and its backups: it is never listed,
    logged or shown again after creation or rotation (see docs/webhooks.md).
    ``failing_since`` is the first failed attempt since the last success; an endpoint
    still failing three days later is disabled (``active`` false, ``disabled_reason``).
    """

    __tablename__ = "webhooks"
    __table_args__ = (
        CheckConstraint(
            "events <@ ARRAY[" + ", ".join(f"'{e}'" for e in WEBHOOK_EVENTS) + "]::varchar[]",
            name="events",
        ),
    )

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    description: Mapped[str | None] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True, server_default="true")
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    disabled_at: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]


class WebhookDelivery(UUIDPrimaryKey, CreatedAt, Base):
    """The outbox: one message for one webhook, written in the transaction that made the
    change, sent after it commits. ``id`` is the Standard Webhooks ``webhook-id`` (the same
    on every retry, so a receiver can drop duplicates). ``body`` is stored as the exact
    bytes signed and sent. A pending row is due at ``next_attempt_at``; a worker that
    claims it moves ``next_attempt_at`` a minute ahead (its lease) before it calls out."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(check_in("status", DELIVERY_STATUSES), name="status"),
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    webhook_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    """One HTTP attempt at a delivery: when, the status code (if any answer came) and
    the outcome. Shown to the organisation by ``GET /v1/webhooks/{id}/deliveries``."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        CheckConstraint(check_in("outcome", ATTEMPT_OUTCOMES), name="outcome"),
        Index("ix_webhook_attempts_webhook_seq", "webhook_id", text("seq DESC")),
    )

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4, unique=True)
    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    outcome: Mapped[str] = mapped_column(String(20))
