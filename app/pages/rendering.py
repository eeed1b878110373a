"""Rendering a page: Jinja2 templates (autoescaped) in the layout, with the session's
cookie, CSRF token and the pages' security headers.

    return render(request, "sharing.html", {"grants": grants}, title="Who you share with")
    return redirect(request, "/account/sharing")

Every page response goes through these two, so none misses the headers or a cookie a
dependency decided to send. The layout (``templates/layout.html``) draws the header with
the navigation and the sign-out button (when signed in), the skip link, ``<main>`` and the
footer; a template fills ``{% block content %}``. Forms include
``{{ csrf_field() }}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app.pages import words
from app.pages.security import page_headers
from app.pages.sessions import CSRF_FIELD, apply_cookie, session_of

TEMPLATES = Path(__file__).parent / "templates"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["when"] = words.when
_env.filters["day"] = words.day
_env.filters["field_label"] = words.field_label
_env.filters["join_words"] = words.join_words
_env.filters["purpose_label"] = words.purpose_label

NAVIGATION = (
    ("/account", "Home"),
    ("/account/sharing", "Sharing"),
    ("/account/who-has-looked", "Who has looked"),
    ("/account/support", "Support"),
    ("/account/referrals", "Referrals"),
    ("/account/progress", "Progress"),
    ("/account/profile", "Your information"),
    ("/account/download", "Download"),
)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    title: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    state = session_of(request)
    token = state.csrf_secret if state is not None else ""

    def csrf_field() -> Markup:
        return Markup('<input type="hidden" name="{}" value="{}">').format(
            CSRF_FIELD, escape(token)
        )

    html = _env.get_template(template).render(
        {
            **(context or {}),
            "title": title,
            "csrf_field": csrf_field,
            "signed_in": state is not None and state.signed_in,
            "helper": state.helper if state is not None else None,
            "navigation": NAVIGATION,
            "current_path": request.url.path,
        }
    )
    response = HTMLResponse(html, status_code=status, headers={**page_headers(request)})
    for name, value in (headers or {}).items():
        response.headers[name] = value
    apply_cookie(request, response)
    return response


def redirect(request: Request, location: str, *, status: int = 303) -> Response:
    """A redirect to a path on this site (or, for the consent page, an allowed URL)."""
    response = RedirectResponse(location, status_code=status, headers=page_headers(request))
    apply_cookie(request, response)
    return response
