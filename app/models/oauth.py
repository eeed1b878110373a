"""The authorization code flow's short-lived state (API.md §7): pushed requests and codes.

Both live in PostgreSQL, not in a process, so any replica can take any step of a flow.
Neither table holds a secret in the clear: a request URI and a code are bearer
capabilities, so only their SHA-256 is stored (like client secrets, they are 256 random
bits, so a slow hash adds nothing).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, CheckConstraint, ForeignKey, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class AuthorizationRequest(Base):
    """A pushed authorization request (RFC 9126). Usable once (``used_at``), within 60 s."""

    __tablename__ = "authorization_requests"

    handle_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.client_id", ondelete="CASCADE"), index=True
    )
    redirect_uri: Mapped[str] = mapped_column(Text)
    state: Mapped[str | None] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    fields: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    purpose: Mapped[str] = mapped_column(String(40))
    grant_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]


class AuthorizationCode(Base):
    """An authorization code: single use, 60 s, bound to client, redirect URI and PKCE
    challenge, and to the grant the leaver made. ``uses`` counts every presentation by its
    client; the token issued on the first is remembered (``token_jti``) so a second use can
    revoke it (RFC 6749 §4.1.2). Kept until that token would have expired anyway."""

    __tablename__ = "authorization_codes"
    __table_args__ = (CheckConstraint("uses >= 0", name="uses"),)

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.client_id", ondelete="CASCADE"), index=True
    )
    redirect_uri: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"))
    grant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consent_grants.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=func.now())
    expires_at: Mapped[datetime]
    uses: Mapped[int] = mapped_column(default=0, server_default="0")
    token_jti: Mapped[str | None] = mapped_column(String(64))
    token_expires_at: Mapped[datetime | None] = mapped_column(index=True)
