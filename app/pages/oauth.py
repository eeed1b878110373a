"""The consent page of the authorization code flow (API.md §7): ``/oauth/authorize``.

    GET  /oauth/authorize?client_id=…&request_uri=…   the pushed request is used up here
         → 303 /oauth/authorize                       (it now lives in the browser session)
    GET  /oauth/authorize                             sign-in first (the foundation's), then
                                                      the consent page
    POST /oauth/authorize                             allow → grant + code; deny → error
         → 303 redirect_uri?code=…&state=…&iss=…      or  ?error=access_denied&state=…&iss=…

Rules this module keeps:

* nowhere but a registered redirect URI of a live client is ever a redirect target, and
  only one taken from the pushed request (never from the browser): an unknown, used,
  expired or foreign request, or a redirect URI no longer registered, gets an error page;
* every checkbox starts unticked; what is granted is the ticked subset of what was
  requested (a tampered value outside it is ignored, never granted);
* a special-category or offence field ticked without the explicit box shows the page
  again with an error summary and creates nothing;
* the grant is an ordinary one (``consent.service.grant_consent``) with the session's
  ``collection_method`` (``web``, or ``assisted`` with ``assisted_by`` when helped);
* the POST needs the session's CSRF token (``SignedInPost``) and the page's CSP lets its
  form end in a redirect to the client's origin only.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.session import Session
from app.auth import codes, web_sessions
from app.auth.codes import PendingRequest
from app.consent.catalogue import FIELDS_BY_PATH, SENSITIVE
from app.consent.service import DEFAULT_TERM, grant_consent
from app.errors import ValidationFailed
from app.models.base import utcnow
from app.pages.forms import read_form
from app.pages.rendering import redirect, render
from app.pages.security import allow_form_action
from app.pages.sessions import PageSession, SignedInLeaver, SignedInPost, require_leaver
from app.pages.sign_in import ensure_session
from app.settings import Settings

router = APIRouter(include_in_schema=False)

AUTHORIZE_PATH = "/oauth/authorize"
_SESSION_KEY = "authorization"


def _pending(state: web_sessions.BrowserSession | None) -> PendingRequest | None:
    if state is None:
        return None
    return PendingRequest.from_json(state.data.get(_SESSION_KEY))


def _problem_page(request: Request, heading: str, *paragraphs: str) -> Response:
    # Never a redirect: nothing said where to send the browser can be trusted here.
    return render(
        request,
        "message.html",
        {"heading": heading, "paragraphs": list(paragraphs), "link": None},
        title=heading,
        status=400,
    )


def _no_request(request: Request) -> Response:
    return _problem_page(
        request,
        "This link does not work any more",
        "It may be old, or it may have been used already.",
        "Go back to the app or website that sent you here and start again from there.",
    )


def _back_to_client(request: Request, pending: PendingRequest, **params: str) -> Response:
    """303 to the request's registered redirect URI with ``params``, ``state`` and ``iss``
    (RFC 9207), keeping any query the registered URI has."""
    settings: Settings = request.app.state.settings
    parts = urlsplit(pending.redirect_uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += list(params.items())
    if pending.state is not None:
        query.append(("state", pending.state))
    query.append(("iss", settings.issuer))
    allow_form_action(request, pending.redirect_uri)
    return redirect(request, urlunsplit(parts._replace(query=urlencode(query))))


@router.get(AUTHORIZE_PATH)
async def authorize(
    request: Request,
    session: Session,
    state: PageSession,
    client_id: str | None = None,
    request_uri: str | None = None,
) -> Response:
    """Take a pushed request into the browser session, then (signed in) ask the leaver."""
    if client_id is not None or request_uri is not None:
        pending = await codes.consume_request(session, client_id, request_uri)
        if pending is None:
            return _no_request(request)
        state = await ensure_session(request, session, state)
        state.data[_SESSION_KEY] = pending.to_json()
        await web_sessions.save_session_data(session, state)
        # A clean address: reloading it (or signing in and coming back) never presents
        # the used request URI again.
        return redirect(request, AUTHORIZE_PATH)
    pending = _pending(state)
    if pending is None:
        return _no_request(request)
    # Not signed in: the foundation sends the browser to sign in and back here.
    leaver = await require_leaver(request, state)
    return _consent_page(request, pending, leaver)


def _choices(pending: PendingRequest) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    standard: list[dict[str, str]] = []
    sensitive: list[dict[str, str]] = []
    for path in pending.fields:
        field = FIELDS_BY_PATH[path]
        item = {"path": path, "label": field.label, "id": "field-" + path.replace(".", "-")}
        (sensitive if field.sensitivity in SENSITIVE else standard).append(item)
    return standard, sensitive


def _consent_page(
    request: Request,
    pending: PendingRequest,
    leaver: SignedInLeaver,
    *,
    ticked: list[str] | None = None,
    explicit: bool = False,
    errors: dict[str, str] | None = None,
) -> Response:
    standard, sensitive = _choices(pending)
    errors = errors or {}
    until = codes.grant_expiry(pending) or (utcnow() + DEFAULT_TERM)
    # The decision ends in a redirect to the client: its origin joins form-action.
    allow_form_action(request, pending.redirect_uri)
    return render(
        request,
        "oauth_consent.html",
        {
            "organisation": pending.organisation_name,
            "purpose": pending.purpose,
            "standard": standard,
            "sensitive": sensitive,
            "ticked": set(ticked or []),
            "explicit": explicit,
            "until": until,
            "errors": errors,
            "error_summary": list(errors.items()),
        },
        title=f"{pending.organisation_name} is asking to see your information",
        status=400 if errors else 200,
    )


@router.post(AUTHORIZE_PATH)
async def decide(request: Request, session: Session, leaver: SignedInPost) -> Response:
    """The leaver's decision: allow (a grant of exactly the ticked fields) or deny."""
    state = leaver.session
    pending = _pending(state)
    if pending is None:
        return _no_request(request)
    if not await codes.still_registered(session, pending):
        # The client was disabled, or its redirect URI removed, since the request: no
        # redirect there, and the request is over.
        _forget(state)
        await web_sessions.save_session_data(session, state)
        return _no_request(request)
    form = await read_form(request)
    decision = form.get("decision")
    requested = set(pending.fields)
    # Only what was requested can be granted, in the request's (catalogue) order.
    chosen = set(form.getlist("fields")) & requested
    ticked = [p for p in pending.fields if p in chosen]
    explicit = form.get("explicit") == "yes"
    if decision not in ("allow", "deny"):
        return _consent_page(
            request,
            pending,
            leaver,
            ticked=ticked,
            explicit=explicit,
            errors={"decision": "Choose whether to share what you ticked"},
        )
    if decision == "deny" or not ticked:
        _forget(state)
        await web_sessions.save_session_data(session, state)
        return _back_to_client(request, pending, error="access_denied")
    sensitive = [p for p in ticked if FIELDS_BY_PATH[p].sensitivity in SENSITIVE]
    if sensitive and not explicit:
        return _consent_page(
            request,
            pending,
            leaver,
            ticked=ticked,
            explicit=explicit,
            errors={
                "explicit": "You ticked sensitive information. Tick the box to say you agree "
                "to share it, or untick it"
            },
        )
    try:
        grant = await grant_consent(
            session,
            request.app.state.receipts,
            profile_id=leaver.profile_id,
            organisation_id=uuid.UUID(pending.organisation_id),
            fields=ticked,
            purpose=pending.purpose,
            expires_at=codes.grant_expiry(pending),
            explicit=bool(sensitive),
            collection_method=leaver.collection_method,
            assisted_by=leaver.assisted_by,
        )
    except ValidationFailed:
        # The end date the app asked for has passed while the leaver decided.
        _forget(state)
        await web_sessions.save_session_data(session, state)
        return _back_to_client(request, pending, error="invalid_request")
    code = await codes.issue_code(
        session, pending, profile_id=leaver.profile_id, grant_id=_grant_id(grant)
    )
    _forget(state)
    await web_sessions.save_session_data(session, state)
    return _back_to_client(request, pending, code=code)


def _grant_id(grant: dict[str, Any]) -> uuid.UUID:
    value = grant["id"]
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _forget(state: web_sessions.BrowserSession) -> None:
    state.data.pop(_SESSION_KEY, None)
