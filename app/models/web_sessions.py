"""Browser sessions of the leaver's pages (API.md §8), kept in PostgreSQL so that any
replica can serve them and signing out or expiring holds everywhere at once."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class WebSession(Base):
    """One browser's session. The cookie holds a random id; only its SHA-256 is stored,
    so a copy of this table signs no one in."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # None until the leaver signs in (a sign-in form, a pending OAuth request).
    profile_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("profiles.id", ondelete="CASCADE"), index=True
    )
    # Someone helping the leaver in this session (API.md §8 "assisted").
    helper_name: Mapped[str | None] = mapped_column(String(200))
    helper_organisation: Mapped[str | None] = mapped_column(String(200))
    # The synchronizer token every form of this session carries.
    csrf_secret: Mapped[str] = mapped_column(String(64))
    # Small state a page flow keeps between requests (e.g. a pending OAuth request).
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    # last_seen_at + the idle timeout, capped by created_at + the absolute lifetime.
    expires_at: Mapped[datetime] = mapped_column(index=True)
