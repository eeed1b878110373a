"""Erasure: a profile's `erased_at`, and no PIN once erased

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 00:50:00

An erased profile keeps its row (its id is what the kept access log, the providers'
referral histories and the grants point at) and its reference (so it is never issued to
someone else), but its data is `{}`, its PIN hash null and `erased_at` set. The PIN
sign-in joins only profiles with `erased_at IS NULL`, so an erased reference answers
exactly like an unknown one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("profiles", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.alter_column("profiles", "pin_hash", existing_type=sa.Text(), nullable=True)
    # Erased means no data and no PIN; the database holds it, not only the service.
    op.create_check_constraint(
        op.f("ck_profiles_erased_holds_nothing"),
        "profiles",
        "erased_at IS NULL OR (pin_hash IS NULL AND data = '{}'::jsonb)",
    )
    op.create_check_constraint(
        op.f("ck_profiles_pin_unless_erased"),
        "profiles",
        "erased_at IS NOT NULL OR pin_hash IS NOT NULL",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_profiles_pin_unless_erased"), "profiles", type_="check")
    op.drop_constraint(op.f("ck_profiles_erased_holds_nothing"), "profiles", type_="check")
    # Erased profiles cannot sign in after a downgrade either: an unusable hash.
    op.execute("UPDATE profiles SET pin_hash = '!erased' WHERE pin_hash IS NULL")
    op.alter_column("profiles", "pin_hash", existing_type=sa.Text(), nullable=False)
    op.drop_column("profiles", "erased_at")
