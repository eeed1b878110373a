"""A covering index for release-day matching: its first ordering reads no offer rows

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 00:20:00

``GET /v1/me/offers`` picks its candidates in SQL one need tier (a few categories) at a
time, newest first within the category, testing eligibility and the opening window on
the offer's key columns. With those columns in the index (``INCLUDE``) the scan is
index-only: the wide ``body`` rows are read only for the few candidates chosen.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = [
    "week_hours",
    "gender_keys",
    "cohort_keys",
    "min_age",
    "max_age",
    "requires_local_connection",
    "area_keys",
    "valid_from",
    "valid_until",
    "capacity",
]


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_index(
        "ix_offers_published_matching",
        "offers",
        ["category", sa.text("created_at DESC"), sa.text("id DESC")],
        postgresql_include=COLUMNS,
        postgresql_where=sa.text("status = 'published'"),
    )


def downgrade() -> None:
    op.drop_index("ix_offers_published_matching", table_name="offers")
