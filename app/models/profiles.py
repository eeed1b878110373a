"""A leaver's profile, their consent grants and the append-only access log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt, UUIDPrimaryKey, check_in, utcnow


class Profile(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "profiles"
    __table_args__ = (
        # Migration 0018: an erased profile holds no data and no PIN; a live one has a PIN.
        CheckConstraint(
            "erased_at IS NULL OR (pin_hash IS NULL AND data = '{}'::jsonb)",
            name="erased_holds_nothing",
        ),
        CheckConstraint("erased_at IS NOT NULL OR pin_hash IS NOT NULL", name="pin_unless_erased"),
    )

    reference: Mapped[str] = mapped_column(String(13), unique=True)
    # Null once erased (profiles.erasure): no PIN signs in to an erased profile.
    pin_hash: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, server_default=func.now(), index=True
    )
    created_by_client_id: Mapped[str | None] = mapped_column(String(64))
    # Set when the leaver erased the profile (DELETE /v1/me, profiles.erasure).
    erased_at: Mapped[datetime | None]
    # The PIN lock-out lives in pin_attempts, keyed by reference (models/sign_in.py).


class ConsentGrant(UUIDPrimaryKey, Base):
    __tablename__ = "consent_grants"
    __table_args__ = (
        # The partner read: the caller organisation's live grants for one profile.
        Index(
            "ix_consent_grants_org_profile_live",
            "organisation_id",
            "profile_id",
            postgresql_where=text("revoked_at IS NULL"),
        ),
        Index("ix_consent_grants_profile_granted", "profile_id", "granted_at"),
        CheckConstraint("expires_at > granted_at", name="expiry_after_grant"),
        # Migration 0002; the vocabulary is app.consent.catalogue.PURPOSE_CODES.
        CheckConstraint(
            check_in(
                "purpose",
                ("referral", "support_delivery", "case_coordination", "pre_release_planning"),
            ),
            name="purpose",
        ),
    )

    profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"))
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT")
    )
    fields: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    purpose: Mapped[str] = mapped_column(String(40))
    explicit: Mapped[bool] = mapped_column(default=False, server_default="false")
    granted_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    receipt: Mapped[str] = mapped_column(Text)
    # Signed when the grant is revoked (migration 0017): the leaver's proof of stopping.
    revocation_receipt: Mapped[str | None] = mapped_column(Text)


class AccessEvent(Base):
    """Who read what, when, under which grants. Append-only: see the migration's trigger."""

    __tablename__ = "access_events"
    __table_args__ = (
        Index("ix_access_events_profile_seq", "profile_id", text("seq DESC")),
        Index("ix_access_events_txid_seq", "txid", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), default=uuid.uuid4, unique=True)
    # No foreign keys (migration 0005): the statement writing an event has just read its
    # profile through an active grant of its organisation, and BEFORE DELETE triggers on
    # profiles and organisations refuse to delete a row events point at, so neither
    # reference can dangle.
    profile_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    client_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    fields: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    grant_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)))
    at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    # The writing transaction (migration 0016): the sealer chains events in (txid, seq)
    # order below its snapshot's xmin, an order no later commit can slip into.
    txid: Mapped[int] = mapped_column(
        BigInteger, server_default=text("(pg_current_xact_id()::text)::bigint")
    )


class AccessEventSeal(Base):
    """An access event's place in the hash chain (audit.seal). Append-only (trigger)."""

    __tablename__ = "access_event_seals"

    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    event_txid: Mapped[int] = mapped_column(BigInteger)
    seal: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[datetime]


class AccessLogCheckpoint(Base):
    """The chain's head after a sealing round, signed with the service key (a JWS)."""

    __tablename__ = "access_log_checkpoints"

    position: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    seal: Mapped[str] = mapped_column(String(64))
    signed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class DisclosureCut(Base):
    """One organisation's cut of one profile, decided when consent or the profile changes.

    Written only by ``consent.cuts.refresh_cuts`` (the one place that runs
    ``consent.policy.disclose``) and read as stored by the partner read. Invariants:

    * a row is *servable* only while ``valid_until > now`` and ``grant_ids`` is not empty;
      ``valid_until`` is the earliest expiry of the grants behind it, so an expiring grant
      makes the row unservable at that instant, without any write;
    * triggers (migration 0006) set ``valid_until = '-infinity'`` whenever a grant of the
      pair is inserted or updated, or the profile's data changes, so a write that forgot
      to refresh can never leave an over-wide cut servable: it is recomputed on next use;
    * ``version`` and ``updated_at`` move only when what the organisation can see (the
      disclosed leaves or the grants behind them) changes (API.md §3).
    """

    __tablename__ = "disclosure_cuts"
    __table_args__ = (
        # The partner list: an organisation's servable cuts, most recently changed first.
        Index(
            "ix_disclosure_cuts_org_updated",
            "organisation_id",
            text("updated_at DESC"),
            text("profile_id DESC"),
        ),
        # Stale cuts of an organisation, refreshed before its list read.
        Index("ix_disclosure_cuts_org_valid_until", "organisation_id", "valid_until"),
    )

    profile_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("profiles.id", ondelete="CASCADE"), primary_key=True
    )
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    fields: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    grant_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)))
    version: Mapped[int]
    updated_at: Mapped[datetime]
    valid_until: Mapped[datetime]


class ProfileChange(Base):
    """The change feed (API.md §9): one row per change of what an organisation can see.

    Written by ``consent.cuts.refresh_cuts`` in the transaction that changed the cut.
    ``txid`` is the writing transaction's id (``pg_current_xact_id()``, as a bigint): the
    feed is served in ``(txid, seq)`` order and only below the reader's snapshot ``xmin``,
    every transaction under which has ended, so no row can later appear before a cursor
    already handed out (see ``webhooks.feed``).
    """

    __tablename__ = "profile_changes"
    __table_args__ = (
        Index("ix_profile_changes_org_txid_seq", "organisation_id", "txid", "seq"),
        CheckConstraint(check_in("type", ("shared", "updated", "unshared")), name="type"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), default=uuid.uuid4, unique=True)
    txid: Mapped[int] = mapped_column(
        BigInteger, server_default=text("(pg_current_xact_id()::text)::bigint")
    )
    organisation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    profile_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    type: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
