"""The pages' security headers and the one rule for where a sign-in may send the browser.

Every page answers with :func:`page_headers`: a strict Content-Security-Policy (scripts,
styles, images and fonts from this server only; no framing; forms post here only),
``X-Frame-Options: DENY`` for browsers without CSP 3, no referrer (paths stay on this
site) and ``Cache-Control: no-store`` (pages carry personal data). A page whose form ends
in a redirect elsewhere (the OAuth consent page, API.md §7) adds that one origin to
``form-action`` with :func:`allow_form_action`.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.requests import Request

BASE_POLICY = (
    "default-src 'self'",
    "base-uri 'none'",
    "object-src 'none'",
    "frame-ancestors 'none'",
)
DEFAULT_NEXT = "/account"
_FORM_ACTION_KEY = "onward_form_action"


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, else None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def allow_form_action(request: Request, url: str) -> None:
    """Let this response's forms post (and redirect) to ``url``'s origin too."""
    origin = origin_of(url)
    if origin is None:
        raise ValueError("form-action needs an absolute http(s) URL")
    origins: list[str] = getattr(request.state, _FORM_ACTION_KEY, [])
    origins.append(origin)
    setattr(request.state, _FORM_ACTION_KEY, origins)


def content_security_policy(form_action_origins: Iterable[str] = ()) -> str:
    form_action = " ".join(["'self'", *dict.fromkeys(form_action_origins)])
    return "; ".join([*BASE_POLICY, f"form-action {form_action}"])


def page_headers(request: Request) -> dict[str, str]:
    extra: list[str] = getattr(request.state, _FORM_ACTION_KEY, [])
    return {
        "Content-Security-Policy": content_security_policy(extra),
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this site, else the start page.

    Only a local absolute path is taken (``/account/sharing``, ``/oauth/authorize?…``):
    never a scheme, a host, ``//host`` or ``/\\host`` (which browsers read as another
    host), nor control characters. Anything else is the start page, silently.
    """
    if not value or len(value) > 2000 or not value.startswith("/"):
        return DEFAULT_NEXT
    if value.startswith(("//", "/\\")) or "\\" in value:
        return DEFAULT_NEXT
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value):
        return DEFAULT_NEXT
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return DEFAULT_NEXT
    return value
