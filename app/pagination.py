"""Keyset pagination shared by every list: ``limit`` 1–100 (default 20) and an opaque
``cursor`` that encodes the last item's sort key. Newest first; ties keep insertion order
by breaking them on the id."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from fastapi import Query
from pydantic import BaseModel

from app.errors import ValidationFailed

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=100, description="Items per page (1–100).")]
Cursor = Annotated[
    str | None,
    Query(max_length=200, description="Opaque cursor from the previous page's `next_cursor`."),
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(at: datetime, ident: UUID | int) -> str:
    raw = json.dumps([at.isoformat(), str(ident)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, ident = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(at), str(ident)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed("The cursor is not valid", loc=["query", "cursor"]) from exc


def page_of(rows: list[Any], limit: int, key: Any) -> tuple[list[Any], str | None]:
    """Given up to ``limit + 1`` rows, the page and the cursor for the next one."""
    if len(rows) > limit:
        rows = rows[:limit]
        at, ident = key(rows[-1])
        return rows, encode_cursor(at, ident)
    return rows, None


def decode_uuid_cursor(cursor: str) -> tuple[datetime, UUID]:
    at, ident = decode_cursor(cursor)
    try:
        return at, UUID(ident)
    except ValueError as exc:
        raise ValidationFailed("The cursor is not valid", loc=["query", "cursor"]) from exc
