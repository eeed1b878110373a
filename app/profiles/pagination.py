"""Opaque keyset cursors: base64url of a small JSON array, never an offset.

A cursor names the last item of a page (its sort key and id); the next page starts
strictly after it, so inserts between pages neither repeat nor skip older items.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from app.errors import ValidationFailed

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def encode_cursor(*parts: Any) -> str:
    raw = json.dumps([str(p) for p in parts], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[str]:
    """The cursor's parts; 422 (never echoing it) when it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        parts = None
    if (
        not isinstance(parts, list)
        or len(parts) != size
        or not all(isinstance(p, str) for p in parts)
    ):
        raise ValidationFailed("The cursor is not valid", loc=["query", "cursor"])
    return parts
