"""Organisations can be disabled

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 10:00:00

``organisations.active``: an operator disables an organisation and every client of it is
refused from the next request on, on every replica. Token liveness (app/auth/principal.py)
and client authentication read it together with ``clients.active``. Adding a column with
a constant default is a catalogue-only change in PostgreSQL 11+ (no table rewrite).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column(
        "organisations",
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
    )


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_column("organisations", "active")
