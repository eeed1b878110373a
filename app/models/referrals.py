"""Referrals (with their status history) and the leaver's progress readings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, UUIDPrimaryKey, check_in, utcnow
from app.vocabulary import OPEN_REFERRAL_STATUSES as OPEN
from app.vocabulary import REFERRAL_STATUSES as STATUSES

__all__ = ["ProgressReading", "Referral", "ReferralEvent"]


class Referral(UUIDPrimaryKey, Base):
    __tablename__ = "referrals"
    __table_args__ = (
        CheckConstraint(check_in("status", STATUSES), name="status"),
        # Keyset pages, newest first: (created_at DESC, id DESC) as the lists sort.
        Index(
            "ix_referrals_org_created", "organisation_id", text("created_at DESC"), text("id DESC")
        ),
        Index(
            "ix_referrals_profile_created", "profile_id", text("created_at DESC"), text("id DESC")
        ),
        Index("ix_referrals_offer_status", "offer_id", "status"),
        # One open referral per leaver per offer (API.md §5), held by the database so two
        # racing requests cannot both create one: the loser's INSERT … ON CONFLICT DO
        # NOTHING inserts nothing, and the service answers 409 (migration 0007).
        Index(
            "uq_referrals_profile_offer_open",
            "profile_id",
            "offer_id",
            unique=True,
            postgresql_where=text(check_in("status", sorted(OPEN))),
        ),
    )

    profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"))
    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offers.id", ondelete="RESTRICT"))
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT")
    )
    grant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("consent_grants.id", ondelete="RESTRICT")
    )
    status: Mapped[str] = mapped_column(String(20), default="pending")
    message: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class ReferralEvent(Base):
    """One status a referral entered: who moved it, when, and their note for the leaver."""

    __tablename__ = "referral_events"
    __table_args__ = (
        CheckConstraint(check_in("status", STATUSES), name="status"),
        Index("ix_referral_events_referral_seq", "referral_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    referral_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(String(2000))
    actor_client_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class ProgressReading(UUIDPrimaryKey, Base):
    __tablename__ = "progress_readings"
    __table_args__ = (
        Index(
            "ix_progress_readings_profile_recorded", "profile_id", text("recorded_at DESC"), "id"
        ),
    )

    profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"))
    readings: Mapped[dict[str, Any]] = mapped_column(JSONB)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
