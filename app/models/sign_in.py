"""Sign-in defences kept in the database, so they hold across replicas and restarts.

Both tables are keyed by what an attacker controls the least cheaply (a reference, an
address), written by one atomic statement per attempt, and pruned of rows that no longer
hold anything (``auth/throttle.py``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ARRAY, CheckConstraint, DateTime, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class PinAttempts(Base):
    """The PIN lock-out counter of one reference, *issued or not* (API.md §1).

    Kept for any well-formed ``ONW-XXXX-XXXX`` so that an unknown reference answers
    exactly as an issued one (400 five times, then 429): nothing here says whether a
    profile holds the reference.
    """

    __tablename__ = "pin_attempts"
    __table_args__ = (CheckConstraint("failed_attempts >= 0", name="failed_attempts"),)

    reference: Mapped[str] = mapped_column(String(13), primary_key=True)
    # Attempts counted since the last success (in flight ones included).
    failed_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    # Whether the latest attempt was refused (read back by the attempt's own RETURNING).
    refused: Mapped[bool] = mapped_column(default=False, server_default="false")
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, server_default=func.now(), index=True
    )


class SignInAttempts(Base):
    """Unauthenticated sign-in attempts of one client address in the last 60 seconds."""

    __tablename__ = "sign_in_attempts"

    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    # When each admitted attempt of the last minute began, oldest first.
    attempted_at: Mapped[list[datetime]] = mapped_column(ARRAY(DateTime(timezone=True)))
    refused: Mapped[bool] = mapped_column(default=False, server_default="false")
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, server_default=func.now(), index=True
    )
