"""Offers: the marketplace catalogue.

``body`` holds the validated document as the provider sent it; the other columns are
denormalised from it for filtering and kept in step by ``app.offers.service`` (one writer).
``area_keys``, ``cohort_keys`` and ``gender_keys`` hold the offer's values, or ``{'*'}`` when
the list is empty ("anyone"), so "offers for X or for anyone" is one indexable overlap
(``keys && ARRAY[X, '*']``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    CheckConstraint,
    Computed,
    Float,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import INT4MULTIRANGE, JSONB, TSVECTOR, Range
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt, UUIDPrimaryKey, check_in, utcnow
from app.vocabulary import CATEGORIES
from app.vocabulary import OFFER_STATUSES as STATUSES

__all__ = ["Offer", "OfferLocation"]

SEARCH_VECTOR_SQL = (
    "setweight(to_tsvector('english'::regconfig, coalesce(body->>'title', '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(body->'tags', '[]'::jsonb)), 'B') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(body->>'summary', '')), 'B') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(body->>'description', '')), 'C')"
)
PUBLISHED = text("status = 'published'")


class Offer(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint(check_in("status", STATUSES), name="status"),
        CheckConstraint(check_in("category", CATEGORIES), name="category"),
        CheckConstraint("version >= 1", name="version"),
        # The catalogue: published offers, newest first, with or without a category.
        Index(
            "ix_offers_published_created",
            text("created_at DESC"),
            text("id DESC"),
            postgresql_where=PUBLISHED,
        ),
        Index(
            "ix_offers_published_category_created",
            "category",
            text("created_at DESC"),
            text("id DESC"),
            postgresql_where=PUBLISHED,
        ),
        # Release-day matching's first ordering, index-only (migration 0015).
        Index(
            "ix_offers_published_matching",
            "category",
            text("created_at DESC"),
            text("id DESC"),
            postgresql_include=[
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
            ],
            postgresql_where=PUBLISHED,
        ),
        Index("ix_offers_area_keys", "area_keys", postgresql_using="gin"),
        Index("ix_offers_category_area_keys", "category_area_keys", postgresql_using="gin"),
        Index("ix_offers_cohort_keys", "cohort_keys", postgresql_using="gin"),
        Index("ix_offers_search_vector", "search_vector", postgresql_using="gin"),
        Index("ix_offers_organisation_created", "organisation_id", "created_at"),
        Index("ix_offers_updated_at", "updated_at"),
    )

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT")
    )
    status: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(40))
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    area_keys: Mapped[list[str]] = mapped_column(ARRAY(Text))
    # "category|area" pairs (or "category|*"): category + area in one small GIN lookup.
    category_area_keys: Mapped[list[str]] = mapped_column(ARRAY(Text))
    cohort_keys: Mapped[list[str]] = mapped_column(ARRAY(Text))
    gender_keys: Mapped[list[str]] = mapped_column(ARRAY(Text))
    min_age: Mapped[int | None] = mapped_column(SmallInteger)
    max_age: Mapped[int | None] = mapped_column(SmallInteger)
    requires_local_connection: Mapped[bool]
    meet_at_gate: Mapped[bool]
    always_open: Mapped[bool]
    # Opening hours as minutes of the London wall-clock week (0 = Monday 00:00, 10080 = the
    # next Monday): open_at is one in-row containment test, ``week_hours @> minute``.
    week_hours: Mapped[list[Range[int]]] = mapped_column(INT4MULTIRANGE)
    valid_from: Mapped[date | None]
    valid_until: Mapped[date | None]
    capacity: Mapped[int | None]
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    search_vector: Mapped[Any] = mapped_column(
        TSVECTOR, Computed(SEARCH_VECTOR_SQL, persisted=True)
    )


class OfferLocation(Base):
    """An offer's place, for ``near=`` (bounding box on the index, then great-circle)."""

    __tablename__ = "offer_locations"
    __table_args__ = (Index("ix_offer_locations_lat_lon", "latitude", "longitude"),)

    offer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
