"""Sign-in defences: PIN lock-out per reference (issued or not), attempts per address

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:00:00

The PIN lock-out moves from two columns of profiles to pin_attempts, keyed by reference,
so that it is kept for any well-formed reference, issued or not, and an unknown reference
answers exactly as an issued one (API.md §1). Locks and counts in force are carried over.
sign_in_attempts holds each client address's sign-in attempts of the last minute
(ONWARD_SIGN_IN_PER_MINUTE). The application role gets its rights on both through the
default privileges of migration 0002.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_table(
        "pin_attempts",
        sa.Column("reference", sa.String(length=13), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refused", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("failed_attempts >= 0", name=op.f("ck_pin_attempts_failed_attempts")),
        sa.PrimaryKeyConstraint("reference", name=op.f("pk_pin_attempts")),
    )
    op.create_index(
        op.f("ix_pin_attempts_updated_at"), "pin_attempts", ["updated_at"], unique=False
    )
    op.create_table(
        "sign_in_attempts",
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("attempted_at", postgresql.ARRAY(sa.DateTime(timezone=True)), nullable=False),
        sa.Column("refused", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_sign_in_attempts")),
    )
    op.create_index(
        op.f("ix_sign_in_attempts_updated_at"), "sign_in_attempts", ["updated_at"], unique=False
    )
    op.execute(
        "INSERT INTO pin_attempts (reference, failed_attempts, locked_until) "
        "SELECT reference, pin_failed_attempts, pin_locked_until FROM profiles "
        "WHERE pin_failed_attempts > 0 OR pin_locked_until IS NOT NULL"
    )
    op.drop_constraint(op.f("ck_profiles_pin_failed_attempts"), "profiles", type_="check")
    op.drop_column("profiles", "pin_locked_until")
    op.drop_column("profiles", "pin_failed_attempts")


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column(
        "profiles",
        sa.Column("pin_failed_attempts", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column(
        "profiles", sa.Column("pin_locked_until", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_check_constraint(
        op.f("ck_profiles_pin_failed_attempts"), "profiles", "pin_failed_attempts >= 0"
    )
    op.execute(
        "UPDATE profiles AS p SET pin_failed_attempts = LEAST(a.failed_attempts, 5), "
        "pin_locked_until = a.locked_until FROM pin_attempts AS a WHERE a.reference = p.reference"
    )
    op.drop_index(op.f("ix_sign_in_attempts_updated_at"), table_name="sign_in_attempts")
    op.drop_table("sign_in_attempts")
    op.drop_index(op.f("ix_pin_attempts_updated_at"), table_name="pin_attempts")
    op.drop_table("pin_attempts")
