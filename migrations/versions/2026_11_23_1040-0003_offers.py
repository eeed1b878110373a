"""Offers: the marketplace catalogue

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("draft", "published", "paused", "withdrawn")
CATEGORIES = (
    "accommodation",
    "attitudes_behaviour",
    "children_families",
    "drugs_alcohol",
    "education_work",
    "finance_id",
    "health",
    "wellbeing",
    "practical",
)
SEARCH_VECTOR_SQL = (
    "setweight(to_tsvector('english'::regconfig, coalesce(body->>'title', '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(body->'tags', '[]'::jsonb)), 'B') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(body->>'summary', '')), 'B') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(body->>'description', '')), 'C')"
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_table(
        "offers",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("organisation_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("body", postgresql.JSONB(), nullable=False),
        sa.Column("area_keys", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("category_area_keys", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("cohort_keys", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("gender_keys", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("min_age", sa.SmallInteger(), nullable=True),
        sa.Column("max_age", sa.SmallInteger(), nullable=True),
        sa.Column("requires_local_connection", sa.Boolean(), nullable=False),
        sa.Column("meet_at_gate", sa.Boolean(), nullable=False),
        sa.Column("always_open", sa.Boolean(), nullable=False),
        sa.Column("week_hours", postgresql.INT4MULTIRANGE(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            sa.Computed(SEARCH_VECTOR_SQL, persisted=True),
            nullable=True,
        ),
        sa.CheckConstraint(_in("status", STATUSES), name=op.f("ck_offers_status")),
        sa.CheckConstraint(_in("category", CATEGORIES), name=op.f("ck_offers_category")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_offers_version")),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_offers_organisation_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
    )
    op.create_index(
        "ix_offers_published_created",
        "offers",
        [sa.text("created_at DESC"), sa.text("id DESC")],
        postgresql_where=sa.text("status = 'published'"),
    )
    op.create_index(
        "ix_offers_published_category_created",
        "offers",
        ["category", sa.text("created_at DESC"), sa.text("id DESC")],
        postgresql_where=sa.text("status = 'published'"),
    )
    op.create_index("ix_offers_area_keys", "offers", ["area_keys"], postgresql_using="gin")
    op.create_index(
        "ix_offers_category_area_keys", "offers", ["category_area_keys"], postgresql_using="gin"
    )
    op.create_index("ix_offers_cohort_keys", "offers", ["cohort_keys"], postgresql_using="gin")
    op.create_index("ix_offers_search_vector", "offers", ["search_vector"], postgresql_using="gin")
    op.create_index("ix_offers_organisation_created", "offers", ["organisation_id", "created_at"])
    op.create_index("ix_offers_updated_at", "offers", ["updated_at"])

    op.create_table(
        "offer_locations",
        sa.Column("offer_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["offers.id"],
            name=op.f("fk_offer_locations_offer_id_offers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("offer_id", "position", name=op.f("pk_offer_locations")),
    )
    op.create_index("ix_offer_locations_lat_lon", "offer_locations", ["latitude", "longitude"])


def downgrade() -> None:
    op.drop_table("offer_locations")
    op.drop_table("offers")
