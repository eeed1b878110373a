"""The change feed: one row per change of what an organisation can see of a profile

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 00:10:00

No foreign keys, as for access events: the feed outlives erasure (it holds no personal
data, only which profile changed for whom), and rows are only written by the statement
that has just changed an existing cut.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "profile_changes",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "txid",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text)::bigint"),
            nullable=False,
        ),
        sa.Column("organisation_id", sa.UUID(), nullable=False),
        sa.Column("profile_id", sa.UUID(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "type IN ('shared', 'updated', 'unshared')", name=op.f("ck_profile_changes_type")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_profile_changes")),
        sa.UniqueConstraint("id", name=op.f("uq_profile_changes_id")),
    )
    op.create_index(
        "ix_profile_changes_org_txid_seq",
        "profile_changes",
        ["organisation_id", "txid", "seq"],
    )


def downgrade() -> None:
    op.drop_index("ix_profile_changes_org_txid_seq", table_name="profile_changes")
    op.drop_table("profile_changes")
