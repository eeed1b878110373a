"""The partner read's fast path: ``GET /v1/profiles/{id}`` answered beneath FastAPI.

The partner read is the product's hot path, and FastAPI's routing, dependency solving and
middleware cost about as much as the whole read (measured: ~1.5 ms of CPU per request
through FastAPI against ~0.3 ms for the bare Starlette + asyncpg floor). This pure ASGI
middleware answers that one route directly with the very same pieces the FastAPI route
uses (``auth.bearer`` for the token and scope, ``profiles.service.read_for_partner`` for
liveness, the consented cut and the access event, ``errors`` for problem documents), so
the two cannot disagree; the FastAPI route in ``api/profiles.py`` documents the
operation in OpenAPI and serves it when ``ONWARD_FAST_PATHS=false``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.oauth import token
from app.auth.bearer import bearer_principal, check_scopes, invalid_token
from app.auth.principal import Unconfirmed
from app.auth.scopes import PROFILES_READ
from app.auth.tokens import InvalidToken
from app.errors import OnwardError, problem_for, unexpected_error
from app.middleware import security_headers
from app.profiles import service

PREFIX = "/v1/profiles/"
CHANGES_PATH = "/v1/profiles/changes"  # a route of its own, not a profile id
# The fast path sits outside middleware.ResponseHeaders: it sends the same security
# headers (``middleware.security_headers``) itself, on answers and problems alike.
_JSON = (b"content-type", b"application/json")
_NO_STORE = (b"cache-control", b"no-store")


class PartnerReadFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not path.startswith(PREFIX)
            or "/" in path[len(PREFIX) :]
            or len(path) == len(PREFIX)
            or path == CHANGES_PATH
        ):
            await self.app(scope, receive, send)
            return
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization" and authorization is None:  # first, as Starlette
                authorization = value.decode("latin-1")
            elif name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
                # A GET with a body is odd; let the full stack (body limit first) answer it.
                await self.app(scope, receive, send)
                return
        app: Any = scope["app"]
        extra = security_headers(app.state.settings.https)
        try:
            principal = bearer_principal(authorization, scope["query_string"], app.state.tokens)
            check_scopes((PROFILES_READ,), principal)
            try:
                view = await service.read_for_partner(
                    app.state.db, Unconfirmed(principal), path[len(PREFIX) :]
                )
            except InvalidToken as exc:
                raise invalid_token() from exc
        except Exception as exc:
            if not isinstance(exc, OnwardError):
                # As errors.LastResort does for every other route: a 500 problem, logged
                # by type and frames only, never re-raised (messages can hold values); a
                # database fault is a 503 (errors.unexpected_error).
                answer = unexpected_error(scope, exc)
            else:
                answer = problem_for(exc)
            answer.headers["cache-control"] = "no-store"
            for name, value in extra:
                answer.headers[name.decode()] = value.decode()
            await answer(scope, receive, send)
            return
        body = service.render(view)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    _JSON,
                    _NO_STORE,
                    *extra,
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class TokenFastLane:
    """``POST /oauth/token`` handed straight to its handler, past FastAPI's routing.

    The token endpoint takes only the raw request (it parses its own form body and answers
    RFC 6749 JSON), so FastAPI's routing and dependency machinery add nothing to it but
    cost. This calls the very same handler, ``api.oauth.token``. It sits inside the body
    limit, the response headers and ``errors.LastResort``, like any route.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == TOKEN_PATH:
            response = await token(Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret
