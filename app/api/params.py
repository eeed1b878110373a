"""Query parameters every list endpoint shares (API.md §0: limit 1–100, default 20)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from app.pagination import MAX_LIMIT

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (1–100, default 20).")]
Cursor = Annotated[
    str | None,
    Query(max_length=200, description="Opaque cursor from the previous page's `next_cursor`."),
]
