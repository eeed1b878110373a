"""Query parameters shared by several operations.

* ``limit`` and ``cursor`` of every list (API.md §0: limit 1–100, default 20);
* :data:`DateTimeParam`, the one type of every date-time query parameter (``open_at``,
  ``updated_since``, ``modified_after``, …): an RFC 3339 string with an offset, or 422.
  Pydantic alone would read a bare number as a Unix time (``modified_after=0.5`` meant
  1970) and a date without a time as midnight.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

from app.pagination import MAX_LIMIT

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (1–100, default 20).")]
Cursor = Annotated[
    str | None,
    Query(max_length=200, description="Opaque cursor from the previous page's `next_cursor`."),
]

RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
# No example instant: whatever was sent must never come back, and an example such as
# 2026-05-01T14:00:00Z would contain a caller's 2026-05-01.
RFC3339_MESSAGE = (
    "must be an RFC 3339 date-time with an offset: YYYY-MM-DDThh:mm:ss then Z or +hh:mm"
)


def _rfc3339_text(value: Any) -> Any:
    if not isinstance(value, str) or not RFC3339.match(value):
        raise PydanticCustomError("rfc3339", RFC3339_MESSAGE)
    return value


def _in_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00 is past year 9999 in UTC
        raise PydanticCustomError("rfc3339", "is out of range") from None


# Give it a description where it is used:
#   open_at: Annotated[DateTimeParam, Query(description="…")] = None
DateTimeParam = Annotated[datetime | None, BeforeValidator(_rfc3339_text), AfterValidator(_in_utc)]
