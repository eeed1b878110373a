"""Revocation receipts: the signed record that a leaver stopped sharing

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 00:40:00

Grants revoked before this revision have no revocation receipt (null); every later
revocation gets one, signed in the transaction that revokes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("consent_grants", sa.Column("revocation_receipt", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("consent_grants", "revocation_receipt")
