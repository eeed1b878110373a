"""Browser sessions of the leaver's pages (API.md §8), stored in PostgreSQL.

A session is a random id (256 bits) the browser holds in a signed cookie
(``pages/sessions.py``); the table keeps only its SHA-256, so a copy of the table signs no
one in. Every replica reads the same row, so signing out or the idle timeout hold
everywhere from the next request. :func:`resume_session` finds a live session and pushes
its expiry forward in one ``UPDATE … RETURNING``; an expired row is never returned.

A session starts anonymous (``profile_id`` None: the sign-in form's CSRF token, an OAuth
request waiting for sign-in) and gets a *new* id when the leaver signs in
(:func:`sign_in_session`), so an id planted before sign-in is worth nothing after it.
Rows are flushed, never committed here: the request commits.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import repository
from app.models.base import utcnow

# However active, a session ends this long after it began.
MAX_LIFETIME = timedelta(hours=12)
# Expired rows are deleted by a rare new session (about 1 in this many).
PRUNE_ONE_IN = 64


@dataclass(frozen=True)
class Helper:
    """Someone helping the leaver in this session (API.md §8 "assisted")."""

    name: str
    organisation: str

    def as_receipt(self) -> dict[str, str]:
        return {"name": self.name, "organisation": self.organisation}


@dataclass
class BrowserSession:
    id_hash: str
    profile_id: uuid.UUID | None
    helper: Helper | None
    csrf_secret: str
    expires_at: datetime
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def signed_in(self) -> bool:
        return self.profile_id is not None

    @property
    def collection_method(self) -> str:
        """How what is decided in this session is recorded on receipts (API.md §8)."""
        return "assisted" if self.helper is not None else "web"

    @property
    def assisted_by(self) -> dict[str, str] | None:
        return self.helper.as_receipt() if self.helper is not None else None


def hash_id(raw_id: str) -> str:
    return hashlib.sha256(raw_id.encode()).hexdigest()


def _expiry(now: datetime, created_at: datetime, idle: timedelta) -> datetime:
    return min(now + idle, created_at + MAX_LIFETIME)


def _row_to_session(row: Any) -> BrowserSession:
    helper = (
        Helper(row.helper_name, row.helper_organisation or "")
        if row.helper_name is not None
        else None
    )
    return BrowserSession(
        id_hash=row.id_hash,
        profile_id=row.profile_id,
        helper=helper,
        csrf_secret=row.csrf_secret,
        expires_at=row.expires_at,
        data=dict(row.data or {}),
    )


async def start_session(
    session: AsyncSession,
    *,
    idle: timedelta,
    profile_id: uuid.UUID | None = None,
    helper: Helper | None = None,
    data: dict[str, Any] | None = None,
) -> tuple[str, BrowserSession]:
    """A new session: its raw id (for the cookie, never stored) and its state."""
    now = utcnow()
    if secrets.randbelow(PRUNE_ONE_IN) == 0:
        await repository.delete_expired_sessions(session, now=now)
    raw_id = secrets.token_urlsafe(32)
    state = BrowserSession(
        id_hash=hash_id(raw_id),
        profile_id=profile_id,
        helper=helper,
        csrf_secret=secrets.token_urlsafe(32),
        expires_at=_expiry(now, now, idle),
        data=dict(data or {}),
    )
    await repository.insert_web_session(
        session,
        id_hash=state.id_hash,
        profile_id=profile_id,
        helper_name=helper.name if helper else None,
        helper_organisation=helper.organisation if helper else None,
        csrf_secret=state.csrf_secret,
        data=state.data,
        now=now,
        expires_at=state.expires_at,
    )
    return raw_id, state


async def resume_session(
    session: AsyncSession, raw_id: str, *, idle: timedelta
) -> BrowserSession | None:
    """The live session with this id, its idle timer restarted; None if none or expired."""
    now = utcnow()
    row = await repository.touch_web_session(
        session, id_hash=hash_id(raw_id), now=now, idle=idle, max_lifetime=MAX_LIFETIME
    )
    return _row_to_session(row) if row is not None else None


async def sign_in_session(
    session: AsyncSession,
    previous: BrowserSession | None,
    *,
    profile_id: uuid.UUID,
    helper: Helper | None,
    idle: timedelta,
) -> tuple[str, BrowserSession]:
    """End ``previous`` (if any) and start a signed-in session under a new id, keeping the
    previous session's ``data`` (a flow that was waiting for the sign-in goes on)."""
    data: dict[str, Any] = {}
    if previous is not None:
        data = previous.data
        await end_session(session, previous.id_hash)
    return await start_session(session, idle=idle, profile_id=profile_id, helper=helper, data=data)


async def end_session(session: AsyncSession, id_hash: str) -> None:
    """Sign out: the row goes, so no replica accepts the cookie again."""
    await repository.delete_web_session(session, id_hash=id_hash)


async def save_session_data(session: AsyncSession, state: BrowserSession) -> None:
    """Store ``state.data`` (a page flow's state between requests)."""
    await repository.save_web_session_data(session, id_hash=state.id_hash, data=state.data)
