"""Signing in and out of the leaver's pages (API.md §8).

Sign-in shares every defence of the PIN grant by calling the same domain function,
:func:`app.auth.pin_sign_in.verify_leaver_pin`: the per-address limit, the bounded PIN
pool and the per-reference lock-out (a reference locked here is locked on
``/oauth/token`` and the other way round). The sign-in form's CSRF token belongs to an
anonymous session started when the form is shown; signing in replaces that session with a
new one (new id, new token), keeping its flow state (``data``).
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.session import Session
from app.auth import web_sessions
from app.auth.client_address import client_address
from app.auth.pin_sign_in import (
    PinChecksBusy,
    ReferenceLocked,
    SignInLimits,
    SignInThrottled,
    WrongReferenceOrPin,
    verify_leaver_pin,
)
from app.auth.web_sessions import Helper
from app.models.base import utcnow
from app.pages import words
from app.pages.forms import read_form
from app.pages.rendering import redirect, render
from app.pages.security import DEFAULT_NEXT, safe_next
from app.pages.sessions import (
    CsrfFailed,
    PageSession,
    check_csrf,
    clear_session_cookie,
    idle_timeout,
    remember_session,
    set_session_cookie,
    sign_in_url,
)
from app.settings import Settings

router = APIRouter(include_in_schema=False)

MAX_REFERENCE = 40
MAX_PIN = 40
MAX_HELPER_TEXT = 200


@router.get("/")
async def root(request: Request) -> Response:
    """The service's front door is the leaver's start page."""
    return redirect(request, DEFAULT_NEXT, status=303)


def _form_page(
    request: Request,
    *,
    next_path: str,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, object] | None = None,
    timed_out: bool = False,
    headers: dict[str, str] | None = None,
) -> Response:
    settings: Settings = request.app.state.settings
    errors = errors or {}
    summary = [(target, message) for target, message in errors.items()]
    return render(
        request,
        "sign_in.html",
        {
            "next": next_path,
            "errors": errors,
            "error_summary": summary,
            "timed_out": timed_out,
            "idle_minutes": settings.session_idle_minutes,
            **(values or {}),
        },
        title="Sign in",
        status=status,
        headers=headers,
    )


async def ensure_session(
    request: Request, session: Session, state: web_sessions.BrowserSession | None
) -> web_sessions.BrowserSession:
    if state is not None:
        return state
    raw_id, state = await web_sessions.start_session(session, idle=idle_timeout(request))
    set_session_cookie(request, raw_id)
    remember_session(request, state)
    return state


@router.get("/account/sign-in")
async def sign_in_form(
    request: Request,
    session: Session,
    state: PageSession,
    next: str | None = None,
    timed_out: str | None = None,
) -> Response:
    """The sign-in page; a signed-in browser goes straight on."""
    next_path = safe_next(next)
    if state is not None and state.signed_in:
        return redirect(request, next_path)
    await ensure_session(request, session, state)
    return _form_page(request, next_path=next_path, timed_out=timed_out == "1")


def _wait_words(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    until = words.when(utcnow() + timedelta(seconds=seconds))
    unit = "minute" if minutes == 1 else "minutes"
    return f"You can try again in {minutes} {unit}, after {until.split(' at ')[-1]}."


@router.post("/account/sign-in")
async def sign_in(request: Request, session: Session, state: PageSession) -> Response:
    """Check the reference and PIN; start a signed-in session (helped or not)."""
    form = await read_form(request)
    next_path = safe_next(form.get("next"))
    try:
        await check_csrf(request, state)
    except CsrfFailed:
        # No valid pre-session (cookie blocked or expired): nothing is checked or counted.
        await ensure_session(request, session, None)
        return _form_page(
            request,
            next_path=next_path,
            status=400,
            errors={"reference": "Your sign-in page timed out. Enter your reference and PIN again"},
        )
    reference = form.text("reference", MAX_REFERENCE)
    pin = form.get("pin")[:MAX_PIN]
    helped = form.get("helped") == "yes"
    helper_name = form.text("helper_name", MAX_HELPER_TEXT)
    helper_organisation = form.text("helper_organisation", MAX_HELPER_TEXT)
    values: dict[str, object] = {
        "reference": reference,
        "helped": helped or bool(helper_name),
        "helper_name": helper_name,
        "helper_organisation": helper_organisation,
    }
    errors: dict[str, str] = {}
    if not reference:
        errors["reference"] = "Enter your reference"
    if not pin:
        errors["pin"] = "Enter your PIN"
    if helped and not helper_name:
        errors["helper_name"] = "Enter the name of the person helping you"
    if errors:
        return _form_page(request, next_path=next_path, status=400, errors=errors, values=values)

    settings: Settings = request.app.state.settings
    limits = SignInLimits(request.app.state.pin_checks, settings.sign_in_per_minute)
    try:
        profile_id = await verify_leaver_pin(
            request.app.state.db.sessionmaker,
            reference=reference,
            pin=pin,
            client_address=client_address(request.scope, settings.trusted_networks),
            limits=limits,
        )
    except (SignInThrottled, ReferenceLocked) as exc:
        heading = (
            "You entered the wrong PIN too many times"
            if isinstance(exc, ReferenceLocked)
            else "Too many people tried to sign in from here"
        )
        return render(
            request,
            "message.html",
            {
                "heading": heading,
                "paragraphs": [
                    _wait_words(exc.retry_after),
                    "If you forgot your PIN, ask staff at the prison or your key worker.",
                ],
                "link": (sign_in_url(next_path), "Back to sign in"),
            },
            title="Try again later",
            status=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    except PinChecksBusy:
        return render(
            request,
            "message.html",
            {
                "heading": "Sorry, we are busy",
                "paragraphs": ["Wait a moment, then try again."],
                "link": ("/account/sign-in", "Back to sign in"),
            },
            title="Sorry, we are busy",
            status=503,
            headers={"Retry-After": str(PinChecksBusy.retry_after)},
        )
    except WrongReferenceOrPin:
        values["reference"] = reference
        return _form_page(
            request,
            next_path=next_path,
            status=400,
            errors={"reference": "The reference or the PIN is wrong. Check them and try again"},
            values=values,
        )

    helper = Helper(helper_name, helper_organisation) if helper_name else None
    raw_id, signed_in = await web_sessions.sign_in_session(
        session, state, profile_id=profile_id, helper=helper, idle=idle_timeout(request)
    )
    set_session_cookie(request, raw_id)
    remember_session(request, signed_in)
    return redirect(request, next_path)


@router.post("/account/sign-out")
async def sign_out(request: Request, session: Session, state: PageSession) -> Response:
    """End the session on every replica and forget the cookie."""
    try:
        await check_csrf(request, state)
    except CsrfFailed:
        if state is not None:
            raise
        # Already signed out (timed out): say so rather than refuse.
    if state is not None:
        await web_sessions.end_session(session, state.id_hash)
    clear_session_cookie(request)
    remember_session(request, None)
    return render(
        request,
        "message.html",
        {
            "heading": "You are signed out",
            "paragraphs": ["Nobody can use this screen to see your information now."],
            "link": ("/account/sign-in", "Sign in again"),
        },
        title="You are signed out",
    )
