"""Client secrets: random, shown once, stored as a hash.

Secrets are 256 bits from the OS's CSPRNG, so a single SHA-256 is already beyond brute
force; a slow hash (kept for the low-entropy PIN, see ``pins.py``) would only slow the
token endpoint. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

_PREFIX = "sha256$"


def new_client_id() -> str:
    return "onw_" + secrets.token_urlsafe(12)


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)  # 32 bytes = 256 bits


def hash_secret(secret: str) -> str:
    return _PREFIX + hashlib.sha256(secret.encode()).hexdigest()


def verify_secret(secret: str, stored: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored)
