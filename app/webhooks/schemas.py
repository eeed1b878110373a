"""Response shapes of the change feed and webhooks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ProfileChangeItem(BaseModel):
    id: uuid.UUID
    at: datetime = Field(description="When what you can see changed.")
    type: Literal["shared", "updated", "unshared"]
    profile_id: uuid.UUID


class ProfileChangePage(BaseModel):
    items: list[ProfileChangeItem]
    next_cursor: str | None = Field(
        description="Poll again from here; the cursor you sent when nothing new has settled."
    )
