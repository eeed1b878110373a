"""The sealed access log: a hash chain over access events and signed checkpoints

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 00:30:00

``access_events.txid`` records the writing transaction (as the change feed does), so the
sealer can chain events in an order no later commit can slip into: it seals only events
below its snapshot's ``xmin``, in ``(txid, seq)`` order. Seals live in their own
append-only table (the events stay immutable); each sealing round ends in a checkpoint
signed with the service key. Existing events all get this migration's transaction id and
are chained in ``seq`` order.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_APPEND_ONLY = """
CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{table} is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
"""
_APPEND_ONLY_TRIGGER = """
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only();
"""


def upgrade() -> None:
    op.add_column(
        "access_events",
        sa.Column(
            "txid",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text)::bigint"),
            nullable=False,
        ),
    )
    op.create_index("ix_access_events_txid_seq", "access_events", ["txid", "seq"])
    op.create_table(
        "access_event_seals",
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("event_txid", sa.BigInteger(), nullable=False),
        sa.Column("seal", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_access_event_seals")),
        sa.UniqueConstraint("event_seq", name=op.f("uq_access_event_seals_event_seq")),
    )
    op.create_table(
        "access_log_checkpoints",
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("seal", sa.String(length=64), nullable=False),
        sa.Column("signed", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_access_log_checkpoints")),
    )
    for table in ("access_event_seals", "access_log_checkpoints"):
        op.execute(_APPEND_ONLY.format(table=table))
        op.execute(_APPEND_ONLY_TRIGGER.format(table=table))
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'onward_app') THEN "
        "REVOKE UPDATE, DELETE, TRUNCATE ON access_event_seals, access_log_checkpoints "
        "FROM onward_app; END IF; END $$"
    )


def downgrade() -> None:
    for table in ("access_log_checkpoints", "access_event_seals"):
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute(f"DROP FUNCTION {table}_append_only()")
        op.drop_table(table)
    op.drop_index("ix_access_events_txid_seq", table_name="access_events")
    op.drop_column("access_events", "txid")
