"""Consent and profiles: reserved for the profiles-and-consent work

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")


def downgrade() -> None:
    pass
