"""The leaver's pages (API.md §8): server-rendered GOV.UK Frontend pages, another face of
the same domain services as ``api/``. See ``/work/wt/PAGES_FOUNDATION.md``-style notes in
``rendering.py`` (layout), ``sessions.py`` (sessions, sign-in required, CSRF) and
``security.py`` (headers, the ``next`` rule).

:func:`install` adds the routers and the two page-level error answers to the app.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response

from app.pages import account, oauth, sign_in
from app.pages.rendering import redirect, render
from app.pages.sessions import CsrfFailed, SignInRequired, load_session_secret, sign_in_url
from app.settings import Settings


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return redirect(request, sign_in_url(exc.next_path, timed_out=exc.timed_out))


async def _csrf_failed(request: Request, exc: Exception) -> Response:
    return render(
        request,
        "message.html",
        {
            "heading": "Sorry, that did not work",
            "paragraphs": [
                "The page you used was out of date, so nothing was changed.",
                "Go back, reload the page and try again.",
            ],
            "link": ("/account", "Go to your start page"),
        },
        title="Sorry, that did not work",
        status=403,
    )


def install(app: FastAPI, settings: Settings) -> None:
    app.state.session_secret = load_session_secret(settings)
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(CsrfFailed, _csrf_failed)
    for module in (sign_in, account, oauth):
        app.include_router(module.router)
