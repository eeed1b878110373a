"""The page session: a signed ``__Host-`` cookie naming a row of ``web_sessions``.

The cookie ``__Host-onward_session`` holds ``<random id>.<HMAC-SHA256 of it>`` under the
server's session secret (``ONWARD_SESSION_SECRET``; generated once into the data dir
outside production). It is Secure, HttpOnly, SameSite=Lax, Path=/ and has no Domain, as
the ``__Host-`` prefix requires (browsers accept Secure cookies from ``http://localhost``
and ``http://127.0.0.1``, so development needs no exception). A cookie whose signature
fails is ignored before any database look-up. The state itself lives in PostgreSQL
(``auth/web_sessions.py``), 15 minutes idle by default.

Use in a route::

    @router.get("/account/thing")
    async def thing(request: Request, leaver: SignedIn) -> Response:   # signed in, or 303
        ...

    @router.post("/account/thing")
    async def change(request: Request, leaver: SignedInPost) -> Response:  # + CSRF check
        form = await read_form(request)

``leaver.profile_id``, ``leaver.helper``, ``leaver.collection_method`` and
``leaver.assisted_by`` say who and how. :data:`PageSession` is the session or None, for
pages open to anyone (the sign-in page); :func:`check_csrf` checks a form of such a page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends
from starlette.requests import Request
from starlette.responses import Response

from app.api.session import Session
from app.auth import web_sessions
from app.auth.web_sessions import BrowserSession, Helper
from app.pages.forms import read_form
from app.settings import Settings

COOKIE = "__Host-onward_session"
CSRF_FIELD = "csrf_token"
SIGN_IN_PATH = "/account/sign-in"
_STATE_KEY = "onward_session"
_LOADED_KEY = "onward_session_loaded"
_COOKIE_KEY = "onward_set_cookie"


class SignInRequired(Exception):
    """No signed-in session: the browser is sent to sign in, then back to ``next_path``."""

    def __init__(self, next_path: str | None, *, timed_out: bool = False) -> None:
        super().__init__("Sign in first")
        self.next_path = next_path
        self.timed_out = timed_out


class CsrfFailed(Exception):
    """A form came without this session's token: nothing was done (403 page)."""


@dataclass(frozen=True)
class SignedInLeaver:
    """The leaver behind a signed-in page request."""

    profile_id: uuid.UUID
    session: BrowserSession

    @property
    def helper(self) -> Helper | None:
        return self.session.helper

    @property
    def collection_method(self) -> str:
        return self.session.collection_method

    @property
    def assisted_by(self) -> dict[str, str] | None:
        return self.session.assisted_by


# --- the secret and the cookie ------------------------------------------------------------


def load_session_secret(settings: Settings) -> bytes:
    """ONWARD_SESSION_SECRET, or (outside production, where it is required) a secret
    generated once into the data dir and shared by every worker that uses that dir."""
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value().encode()
    path = settings.data_dir / "keys" / "session-secret"
    if not path.exists():
        _write_once(path, secrets.token_urlsafe(48).encode())
    return path.read_bytes().strip()


def _write_once(path: Path, content: bytes) -> None:
    # Each worker writes its own candidate and hard-links it into place: the first wins,
    # every worker then reads that one (never two secrets for one data dir).
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)


def _signature(secret: bytes, raw_id: str) -> str:
    digest = hmac.new(secret, raw_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_cookie(secret: bytes, raw_id: str) -> str:
    return f"{raw_id}.{_signature(secret, raw_id)}"


def unsign_cookie(secret: bytes, value: str | None) -> str | None:
    """The raw session id of a cookie whose signature holds, else None."""
    if not value or len(value) > 200:
        return None
    raw_id, _, signature = value.rpartition(".")
    if not raw_id or not hmac.compare_digest(signature, _signature(secret, raw_id)):
        return None
    return raw_id


def set_session_cookie(request: Request, raw_id: str) -> None:
    """Send this session's cookie with the response (render/redirect apply it)."""
    setattr(request.state, _COOKIE_KEY, sign_cookie(request.app.state.session_secret, raw_id))


def clear_session_cookie(request: Request) -> None:
    setattr(request.state, _COOKIE_KEY, "")


def apply_cookie(request: Request, response: Response) -> None:
    value: str | None = getattr(request.state, _COOKIE_KEY, None)
    if value is None:
        return
    settings: Settings = request.app.state.settings
    response.set_cookie(
        COOKIE,
        value,
        max_age=settings.session_idle_minutes * 60 if value else 0,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )


# --- dependencies -------------------------------------------------------------------------


def idle_timeout(request: Request) -> timedelta:
    settings: Settings = request.app.state.settings
    return timedelta(minutes=settings.session_idle_minutes)


async def current_session(request: Request, session: Session) -> BrowserSession | None:
    """This browser's live session (its idle timer restarted), or None."""
    if getattr(request.state, _LOADED_KEY, False):
        found: BrowserSession | None = getattr(request.state, _STATE_KEY, None)
        return found
    raw_id = unsign_cookie(request.app.state.session_secret, request.cookies.get(COOKIE))
    state = None
    if raw_id is not None:
        state = await web_sessions.resume_session(session, raw_id, idle=idle_timeout(request))
    setattr(request.state, _STATE_KEY, state)
    setattr(request.state, _LOADED_KEY, True)
    return state


def remember_session(request: Request, state: BrowserSession | None) -> None:
    """Make ``state`` this request's session (after starting or ending one)."""
    setattr(request.state, _STATE_KEY, state)
    setattr(request.state, _LOADED_KEY, True)


def session_of(request: Request) -> BrowserSession | None:
    """The session the request's dependencies found (None when there is none)."""
    found: BrowserSession | None = getattr(request.state, _STATE_KEY, None)
    return found


PageSession = Annotated[BrowserSession | None, Depends(current_session)]


def _here(request: Request) -> str:
    path = request.url.path
    if request.method == "GET" and request.url.query:
        path += "?" + request.url.query
    return path


async def require_leaver(request: Request, state: PageSession) -> SignedInLeaver:
    if state is None or state.profile_id is None:
        # Timed out: a cookie came but named no live session (an anonymous session, such
        # as one holding a pending OAuth request, has not timed out).
        timed_out = COOKIE in request.cookies and state is None
        raise SignInRequired(
            _here(request) if request.method == "GET" else None, timed_out=timed_out
        )
    return SignedInLeaver(state.profile_id, state)


async def check_csrf(request: Request, state: BrowserSession | None) -> None:
    """The posted form carries this session's token, else :class:`CsrfFailed`."""
    form = await read_form(request)
    sent = form.get(CSRF_FIELD)
    if state is None or not sent or not hmac.compare_digest(sent, state.csrf_secret):
        raise CsrfFailed


async def require_leaver_post(
    request: Request, leaver: Annotated[SignedInLeaver, Depends(require_leaver)]
) -> SignedInLeaver:
    await check_csrf(request, leaver.session)
    return leaver


SignedIn = Annotated[SignedInLeaver, Depends(require_leaver)]
SignedInPost = Annotated[SignedInLeaver, Depends(require_leaver_post)]


def sign_in_url(next_path: str | None, *, timed_out: bool = False) -> str:
    query = []
    if next_path:
        query.append("next=" + quote(next_path, safe="/"))
    if timed_out:
        query.append("timed_out=1")
    return SIGN_IN_PATH + ("?" + "&".join(query) if query else "")
