"""Webhooks: subscriptions, the outbox and delivery attempts; the webhooks:manage scope

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 00:20:00

``webhook_deliveries`` is the transactional outbox: rows are written in the transaction
that made the change and claimed by workers with ``FOR UPDATE SKIP LOCKED``; the partial
index keeps the due-row scan to pending rows only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENTS = (
    "profile.shared",
    "profile.updated",
    "profile.unshared",
    "referral.created",
    "referral.withdrawn",
    "profile.erased",
)
OLD_SCOPES = (
    "admin",
    "offers:write",
    "profiles:create",
    "profiles:read",
    "referrals:read",
    "referrals:write",
)
NEW_SCOPES = (*OLD_SCOPES, "webhooks:manage")


def _scopes_check(scopes: Sequence[str]) -> str:
    return "scopes <@ ARRAY[" + ", ".join(f"'{s}'" for s in scopes) + "]::varchar[]"


def upgrade() -> None:
    # Never wait long for a lock on a busy table: fail and retry the deploy instead.
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_constraint(op.f("ck_clients_scopes"), "clients", type_="check")
    op.create_check_constraint(op.f("ck_clients_scopes"), "clients", _scopes_check(NEW_SCOPES))

    op.create_table(
        "webhooks",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("organisation_id", sa.UUID(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("events", sa.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("disabled_reason", sa.String(length=200), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "events <@ ARRAY[" + ", ".join(f"'{e}'" for e in EVENTS) + "]::varchar[]",
            name=op.f("ck_webhooks_events"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_webhooks_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_index(op.f("ix_webhooks_organisation_id"), "webhooks", ["organisation_id"])

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("webhook_id", sa.UUID(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')",
            name=op.f("ck_webhook_deliveries_status"),
        ),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_webhook_deliveries_webhook_id_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(op.f("ix_webhook_deliveries_webhook_id"), "webhook_deliveries", ["webhook_id"])
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )

    op.create_table(
        "webhook_attempts",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("webhook_id", sa.UUID(), nullable=False),
        sa.Column("delivery_id", sa.UUID(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('delivered', 'http_error', 'timeout', 'connection_error', 'refused')",
            name=op.f("ck_webhook_attempts_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_webhook_attempts_webhook_id_webhooks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name=op.f("fk_webhook_attempts_delivery_id_webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_webhook_attempts")),
        sa.UniqueConstraint("id", name=op.f("uq_webhook_attempts_id")),
    )
    op.create_index(
        "ix_webhook_attempts_webhook_seq", "webhook_attempts", ["webhook_id", sa.text("seq DESC")]
    )
    op.create_index(op.f("ix_webhook_attempts_delivery_id"), "webhook_attempts", ["delivery_id"])


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
    op.execute("UPDATE clients SET scopes = array_remove(scopes, 'webhooks:manage')")
    op.drop_constraint(op.f("ck_clients_scopes"), "clients", type_="check")
    op.create_check_constraint(op.f("ck_clients_scopes"), "clients", _scopes_check(OLD_SCOPES))
