"""Organisations, API clients and revoked token ids."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, CheckConstraint, ForeignKey, Index, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt, UUIDPrimaryKey, check_in, utcnow
from app.vocabulary import CLIENT_SCOPES, ORGANISATION_KINDS


class Organisation(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "organisations"
    __table_args__ = (
        CheckConstraint(check_in("kind", ORGANISATION_KINDS), name="kind"),
        Index("ix_organisations_name_lower", text("lower(name)")),
    )

    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    # A disabled organisation's clients are refused, tokens and secrets alike.
    active: Mapped[bool] = mapped_column(default=True, server_default="true")


class Client(CreatedAt, Base):
    """An OAuth2 confidential client. The secret is stored only as a SHA-256 hash: it is 256
    random bits, so a slow hash adds nothing but latency (see ``app/auth/secrets.py``)."""

    __tablename__ = "clients"
    __table_args__ = (
        CheckConstraint(
            "scopes <@ ARRAY[" + ", ".join(f"'{s}'" for s in CLIENT_SCOPES) + "]::varchar[]",
            name="scopes",
        ),
    )

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    secret_hash: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True, server_default="true")
    # Exact redirect URIs for the authorization code flow (API.md §7); empty: none.
    redirect_uris: Mapped[list[str]] = mapped_column(
        ARRAY(Text), default=list, server_default=text("'{}'::text[]")
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())


class RevokedToken(Base):
    """A revoked access token's ``jti``, kept until the token would have expired anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
