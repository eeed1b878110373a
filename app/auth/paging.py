"""Keyset pages for the identity lists: newest first, an opaque cursor, a limit of 1–100.

The cursor is the ``(created_at, key)`` of the last item served, base64url-encoded JSON.
It is opaque to clients; a cursor that does not decode is a 422 on ``cursor``, never a
500 or a silently restarted list.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.errors import ValidationFailed

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    key: str


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed("The cursor is not one this list gave", loc=["query", "cursor"])


def encode_cursor(created_at: datetime, key: str) -> str:
    raw = json.dumps({"t": created_at.isoformat(), "k": key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> Cursor | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        created_at = datetime.fromisoformat(data["t"])
        key = data["k"]
        if not isinstance(key, str) or created_at.tzinfo is None:
            raise ValueError
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeError) as exc:
        raise _invalid_cursor() from exc
    return Cursor(created_at, key)


async def keyset_page(
    session: AsyncSession,
    statement: Select[T],
    *,
    created_at: InstrumentedAttribute[datetime],
    key: InstrumentedAttribute[Any],
    key_type: type[Any],
    limit: int,
    cursor: str | None,
) -> Page[T]:
    """One page of ``statement`` ordered by ``(created_at, key)`` descending."""
    after = decode_cursor(cursor)
    if after is not None:
        try:
            after_key = key_type(after.key)
        except ValueError as exc:
            raise _invalid_cursor() from exc
        statement = statement.where(tuple_(created_at, key) < (after.created_at, after_key))
    statement = statement.order_by(created_at.desc(), key.desc()).limit(limit + 1)
    rows: list[T] = list((await session.scalars(statement)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor(getattr(last, created_at.key), str(getattr(last, key.key)))
    return Page(rows, next_cursor)
