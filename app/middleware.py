"""Pure ASGI middleware (no BaseHTTPMiddleware: it breaks streaming and context vars).

* :class:`BodySizeLimit` answers 413 for a body over the limit, before authentication,
  whether or not the client sent ``Content-Length`` (chunked bodies are counted).
* :class:`ResponseHeaders` makes ``Cache-Control: no-store`` the default (personal data
  and tokens must never be cached; public handlers opt out by setting their own), opens
  the public catalogue to every origin, as Open Referral UK requires, and adds the
  security headers every response carries (:func:`security_headers`: ``nosniff``, and
  HSTS when the issuer is https).
* :class:`HostCheck`, outermost, answers 400 for a ``Host`` the API does not serve, before
  any route sees the request. Absolute URLs come from ``ONWARD_ISSUER`` only; this keeps
  a forged Host out of logs, caches and redirects too.

Request headers over 64 KiB in total never reach this code: the server refuses them
(``app/server.py``).
"""

from __future__ import annotations

import json
from functools import lru_cache

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PUBLIC_PREFIXES = ("/v1/offers", "/v1/openreferral", "/v1/consent/fields", "/v1/consent/purposes")


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` mid-stream. An HTTPException so FastAPI's body parser passes
    it through untouched, and the problem handler renders it."""

    def __init__(self) -> None:
        super().__init__(413, "The request body is larger than the 1 MiB limit.")


def _problem_413() -> tuple[bytes, list[tuple[bytes, bytes]]]:
    body = json.dumps(
        {
            "type": "/problems/payload-too-large",
            "title": "Request body too large",
            "status": 413,
            "detail": "The request body is larger than the 1 MiB limit.",
        }
    ).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    return body, headers


class TrackedSend:
    """``send``, remembering whether the response has started: an error can still be
    answered with a problem document only while it has not."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_may_follow = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
                    await self._reject(send)
                    return
                body_may_follow = body_may_follow or declared != 0
            elif name == b"transfer-encoding":
                body_may_follow = True
        if not body_may_follow:
            # No Content-Length and no Transfer-Encoding (or a length of 0): HTTP/1.1 says
            # there is no body, so there is nothing to count (most GETs: the hot path).
            await self.app(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        tracked = TrackedSend(send)
        try:
            await self.app(scope, limited_receive, tracked)
        except BodyTooLarge:
            if tracked.started:
                raise
            await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body, headers = _problem_413()
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class ResponseHeaders:
    def __init__(self, app: ASGIApp, https: bool = False) -> None:
        self.app = app
        self.extra = security_headers(https)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        public = scope["method"] in ("GET", "HEAD", "OPTIONS") and path.startswith(PUBLIC_PREFIXES)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                if public and b"access-control-allow-origin" not in names:
                    headers.append((b"access-control-allow-origin", b"*"))
                headers.extend(self.extra)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


HSTS = b"max-age=31536000; includeSubDomains"


@lru_cache(maxsize=4)
def security_headers(https: bool) -> tuple[tuple[bytes, bytes], ...]:
    """Headers on every response: the one list (``ResponseHeaders``, ``HostCheck``)."""
    headers: list[tuple[bytes, bytes]] = [(b"x-content-type-options", b"nosniff")]
    if https:
        headers.append((b"strict-transport-security", HSTS))
    return tuple(headers)


def _host_name(value: bytes) -> str:
    """The name part of a Host header (no port, IPv6 brackets kept off), lower-case."""
    text = value.decode("latin-1").strip().lower()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else ""
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


class HostCheck:
    """400 problem for a request whose ``Host`` is not one of ``allowed`` (names, no port).

    Pure ASGI and outermost: it runs before any route. A request with no Host header at
    all (HTTP/1.0) is refused too.
    """

    def __init__(self, app: ASGIApp, allowed: frozenset[str], https: bool) -> None:
        self.app = app
        self.allowed = allowed
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = b""
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
                break
        if _host_name(host) in self.allowed:
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {
                "type": "/problems/bad-request",
                "title": "Bad request",
                "status": 400,
                "detail": "This server does not answer for that host name.",
            }
        ).encode()
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            *security_headers(self.https),
        ]
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": body})
