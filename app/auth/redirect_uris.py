"""Which redirect URIs a client may register (API.md §1, §7).

Redirect URIs are compared as exact strings (RFC 9700 §4.1.3: no patterns, no prefix
matching), so what is registered is what a code can ever be sent to. Allowed:

* ``https://host[:port]/path[?query]``, and
* ``http://127.0.0.1:<port>/…`` or ``http://localhost:<port>/…`` for development and
  native apps (RFC 8252 §7.3), refused in production.

Never: a fragment (RFC 6749 §3.1.2), user information (``https://good@evil``), a
backslash, whitespace or control characters, a relative URI, or any other scheme. Error
messages say what is wrong without repeating the URI.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from app.errors import ValidationFailed

MAX_REDIRECT_URIS = 10
MAX_REDIRECT_URI_LENGTH = 2000
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")

_FORBIDDEN = re.compile(r"[\s\\\x00-\x1f\x7f]")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")


def redirect_uri_problem(uri: str, *, allow_loopback: bool) -> str | None:
    """Why ``uri`` cannot be registered, in plain words, or None when it can."""
    if not uri or len(uri) > MAX_REDIRECT_URI_LENGTH:
        return f"A redirect URI must be 1 to {MAX_REDIRECT_URI_LENGTH} characters"
    if _FORBIDDEN.search(uri):
        return "A redirect URI may not hold spaces, backslashes or control characters"
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return "A redirect URI must be an absolute URL"
    if "#" in uri:
        return "A redirect URI may not have a fragment"
    if parts.scheme not in ("https", "http") or not parts.netloc:
        return "A redirect URI must be an absolute https URL"
    if "@" in parts.netloc:
        return "A redirect URI may not hold user information"
    host = parts.hostname or ""
    if parts.scheme == "http":
        if host not in LOOPBACK_HOSTS or port is None:
            return (
                "An http redirect URI must be http://127.0.0.1:<port>/… or "
                "http://localhost:<port>/…; use https otherwise"
            )
        if not allow_loopback:
            return "http redirect URIs are for development only: use https"
        return None
    if not _HOST.fullmatch(host):
        return "A redirect URI's host must be a DNS name in lower case"
    return None


def validate_redirect_uris(
    uris: Sequence[str], *, allow_loopback: bool, loc: Sequence[str | int] = ("body",)
) -> list[str]:
    """The URIs as registered (duplicates dropped), or 422 naming each bad one's index."""
    if len(uris) > MAX_REDIRECT_URIS:
        raise ValidationFailed(
            f"At most {MAX_REDIRECT_URIS} redirect URIs", loc=[*loc, "redirect_uris"]
        )
    errors = []
    for index, uri in enumerate(uris):
        problem = redirect_uri_problem(uri, allow_loopback=allow_loopback)
        if problem is not None:
            errors.append({"loc": [*loc, "redirect_uris", index], "msg": problem})
    if errors:
        raise ValidationFailed("Some redirect URIs cannot be registered", errors=errors)
    return list(dict.fromkeys(uris))
