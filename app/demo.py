"""The Thames Valley demo data set (``onward seed-demo``, ``onward serve --demo``)."""

from __future__ import annotations

from typing import Any

from app.db import Database
from app.settings import Settings


async def seed_demo(db: Database, settings: Settings) -> dict[str, Any]:
    """Filled in by the offers work: load the demo set once and return its credentials."""
    return {"seeded": False}
