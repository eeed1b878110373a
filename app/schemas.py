"""The one strict base of every request model (and of the stored profile document).

* unknown keys are refused (``extra="forbid"``), and the 422 never repeats their names;
* surrounding whitespace is stripped from every string, so ``"  "`` is empty, and an empty
  required text fails its ``min_length``;
* no string may hold U+0000, which PostgreSQL cannot store in text or JSONB: it is refused
  where it is, with its location, instead of failing at the database.

Bounds (``max_length`` on every string and list) are declared per field, where the
contract states them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from app.errors import refuse_nul


class StrictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return refuse_nul(value)
