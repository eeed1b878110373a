"""The leaver's printed reference, ``ONW-XXXX-XXXX``.

Crockford base32 (no I, L, O or U, so nothing reads as 1, 0 or V), 8 random symbols: 40
bits, ample for uniqueness with a unique index and a retry on collision. Lower-case input
and the look-alikes a person might type (i, l → 1; o → 0) are normalised on the way in.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PATTERN = re.compile(r"^ONW-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")
_LOOKALIKES = str.maketrans({"I": "1", "L": "1", "O": "0"})


def new_reference() -> str:
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"ONW-{symbols[:4]}-{symbols[4:]}"


def normalise_reference(raw: str) -> str | None:
    """The canonical form of what a person typed, or None when it cannot be a reference."""
    compact = re.sub(r"[\s-]", "", raw.upper())
    if compact.startswith("0NW"):
        compact = "ONW" + compact[3:]
    if not compact.startswith("ONW") or len(compact) != 11:
        return None
    body = compact[3:].translate(_LOOKALIKES)
    candidate = f"ONW-{body[:4]}-{body[4:]}"
    return candidate if PATTERN.fullmatch(candidate) else None
