"""Keyset pagination for every list: ``limit`` 1–100 (default 20) and an opaque ``cursor``.

A cursor names the last item served by its sort key (e.g. ``(created_at, id)``): base64url
of a small JSON array of strings, never an offset into a changing table (the one exception,
the ranked ``/v1/me/offers``, tags its position so no other list accepts it). The next
page starts strictly after that key, so rows inserted between pages neither repeat nor
skip older ones. Anything that does not decode to the shape the list expects is a 422 on
``["query", "cursor"]`` that never echoes it — never a 500 and never a silent restart.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar, TypeVarTuple
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from app.errors import ValidationFailed

T = TypeVar("T")
R = TypeVar("R")
Ts = TypeVarTuple("Ts")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_MAX_INT = 2**63 - 1  # a bigint: a larger number would fail in the database, not here

CursorPart = datetime | UUID | int | float | str


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(*parts: CursorPart) -> str:
    raw = [p.isoformat() if isinstance(p, datetime) else str(p) for p in parts]
    data = json.dumps(raw, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def invalid_cursor() -> ValidationFailed:
    return ValidationFailed("The cursor is not valid", loc=["query", "cursor"])


def _parse(raw: str, expected: type | str) -> Any:
    if isinstance(expected, str):  # a tag: which ordering of the list the cursor is for
        if raw != expected:
            raise ValueError
        return raw
    if expected is datetime:
        at = datetime.fromisoformat(raw)
        if at.tzinfo is None:
            raise ValueError
        return at
    if expected is int:
        if not (raw.isascii() and raw.isdigit()) or int(raw) > _MAX_INT:
            raise ValueError
        return int(raw)
    if expected is float:
        number = float(raw)
        if not math.isfinite(number):
            raise ValueError
        return number
    return expected(raw)  # UUID, str


def decode_cursor(cursor: str, *shape: type | str) -> tuple[Any, ...]:
    """The cursor's parts, parsed by ``shape`` (``datetime`` (with offset), ``UUID``,
    ``int`` (0 or more), ``float``, ``str``, or a literal tag the part must equal)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(parts, list) or len(parts) != len(shape):
            raise ValueError
        if not all(isinstance(p, str) for p in parts):
            raise ValueError
        return tuple(_parse(p, s) for p, s in zip(parts, shape, strict=True))
    except (ValueError, TypeError) as exc:  # binascii.Error, JSON and Unicode errors too
        raise invalid_cursor() from exc


def page_of(
    rows: Sequence[R], limit: int, key: Callable[[R], tuple[CursorPart, ...]]
) -> tuple[list[R], str | None]:
    """Given up to ``limit + 1`` rows, the page and the cursor for the next one."""
    page = list(rows[:limit])
    return page, encode_cursor(*key(page[-1])) if len(rows) > limit else None


def newest_first(
    statement: Select[*Ts],
    order: Sequence[InstrumentedAttribute[Any]],
    *,
    limit: int,
    cursor: str | None,
) -> Select[*Ts]:
    """``statement`` ordered by the ``order`` columns, all descending, from just after
    ``cursor``, asking for ``limit + 1`` rows (pass them to :func:`page_of`)."""
    if cursor is not None:
        after = decode_cursor(cursor, *(column.type.python_type for column in order))
        statement = statement.where(tuple_(*order) < after)
    return statement.order_by(*(column.desc() for column in order)).limit(limit + 1)
