"""The one place that turns errors into RFC 9457 problem documents (the HTTP mapping).

Domain code raises the class tree of :mod:`app.errors`; this module maps it, the
framework's own errors (404, 405, 415, validation) and database faults to
``application/problem+json`` answers, installs the handlers, and documents the problem
responses in the OpenAPI description. Nothing here echoes submitted values.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from http import HTTPStatus
from typing import Any

import asyncpg
import sqlalchemy.exc
from fastapi import FastAPI, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import (
    DB_UNAVAILABLE,
    MAX_ERRORS,
    PROBLEM_BASE,
    PROBLEM_JSON,
    RETRY_AFTER_SECONDS,
    BadRequest,
    Conflict,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    OnwardError,
    PayloadTooLarge,
    PreconditionFailed,
    PreconditionRequired,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
    chain,
    database_fault,
    refused_input,
    safe_errors,
    summary,
)
from app.middleware import TrackedSend

log = logging.getLogger(__name__)


def problem_response(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    type_: str = "about:blank",
    headers: Mapping[str, str] | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail or title or HTTPStatus(status).phrase,
    }
    if errors is not None:
        body["errors"] = list(errors)[:MAX_ERRORS]
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON
    )


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Location and message only: pydantic's ``input`` and ``ctx`` may hold what was sent."""
    return safe_errors(exc.errors())


def database_unavailable(request_path: str, exc: BaseException) -> JSONResponse:
    """The 503 of a database fault: RFC 6749 JSON on /oauth/*, a problem elsewhere.

    Logged by kind and SQLSTATE only (messages can hold values)."""
    kinds = " <- ".join(
        type(link).__name__ + (f"[{state}]" if (state := getattr(link, "sqlstate", None)) else "")
        for link in chain(exc)
    )
    log.warning("database unavailable (%s): %s", database_fault(exc), kinds)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}
    if request_path.startswith("/oauth/"):
        return JSONResponse(
            {"error": "temporarily_unavailable", "error_description": DB_UNAVAILABLE},
            status_code=503,
            headers={**headers, "Pragma": "no-cache"},
        )
    return problem_for(ServiceUnavailable(DB_UNAVAILABLE, headers=headers))


def unexpected_error(scope: Scope, exc: BaseException) -> JSONResponse:
    """What an exception no handler took answers: 503 for a database fault (and a GET
    whose connection was lost is marked for :class:`RetryReads`), else the 500 problem."""
    fault = database_fault(exc)
    if fault is None:
        return internal_error(exc)
    if fault == "lost":
        retry = scope.get(_RETRY_KEY)
        if isinstance(retry, list):
            retry.append(True)
    return database_unavailable(str(scope.get("path", "")), exc)


_RETRY_KEY = "onward.retry_read"


class RetryReads:
    """Runs a GET or HEAD once more when its database connection was lost under it.

    A pooled connection can die silently (a failover that drops the old primary's packets,
    a proxy's idle kill): the first statement on it fails though the database is back.
    For a read that is only a stale connection, so it is tried once more, on another; a
    write is never retried (it may have been applied). A timeout is not retried either:
    the answer must come within the timeout. The fault answer (503) of the first run is
    held back, never sent.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        marks: list[bool] = []
        first = {**scope, _RETRY_KEY: marks}
        held = False

        async def hold(message: Any) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and marks and message["status"] == 503:
                held = True
            if not held:
                await send(message)

        await self.app(first, receive, hold)
        if held:
            log.info("retrying a read once after a lost database connection")
            await self.app({**scope}, receive, send)


def problem_for(exc: OnwardError) -> JSONResponse:
    """The problem document of a domain error."""
    return problem_response(
        exc.status,
        title=exc.title,
        detail=exc.detail,
        type_=exc.type,
        headers=exc.headers,
        errors=exc.errors,
    )


def install_error_handlers(app: FastAPI) -> None:
    async def onward_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OnwardError)
        return problem_for(exc)

    async def request_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        if _not_json(request, exc):
            return problem_for(UnsupportedMediaType(JSON_ONLY))
        return problem_response(
            422,
            title="The request is not valid",
            detail="One or more fields are invalid; see errors.",
            type_=PROBLEM_BASE + "validation-error",
            errors=validation_errors(exc),
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400 and exc.detail == _BODY_PARSE_ERROR:
            # FastAPI's answer to a body that is not UTF-8 or nests too deeply: the same
            # 422 as any other body that is not valid JSON.
            return _invalid_json()
        return problem_for(framework_error(request, exc))

    async def data_error(request: Request, exc: Exception) -> JSONResponse:
        if not refused_input(exc):
            return unexpected_error(request.scope, exc)
        log.warning("value refused by the database: %s", summary(exc).splitlines()[0])
        return _unstorable()

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        return internal_error(exc)

    app.add_exception_handler(OnwardError, onward_error)
    app.add_exception_handler(RequestValidationError, request_validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(DBAPIError, data_error)
    app.add_exception_handler(asyncpg.PostgresError, data_error)
    app.add_exception_handler(OverflowError, data_error)
    for fault in (
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
        OSError,
        sqlalchemy.exc.TimeoutError,
    ):
        app.add_exception_handler(fault, data_error)
    app.add_exception_handler(Exception, unexpected)
    # Added first, so it sits inside every other middleware: see LastResort.
    app.add_middleware(LastResort)
    document_problems(app)


def internal_error(exc: BaseException) -> JSONResponse:
    # Logged with its trace for operators (types and frames only); the client sees no
    # internals.
    log.error("unhandled error: %s", summary(exc))
    return problem_response(
        500,
        detail="Something went wrong on our side.",
        type_=PROBLEM_BASE + "internal-error",
        headers={"Cache-Control": "no-store"},
    )


class LastResort:
    """Answers an unexpected exception with the 500 problem and does not re-raise it.

    Starlette's outermost ``ServerErrorMiddleware`` re-raises after its handler has run, so
    that the server logs the error: uvicorn would then log the exception's message, and the
    messages of response-validation and database errors carry the values involved (a
    leaver's profile, SQL parameters). Stopping the exception here keeps personal data out
    of the logs, and the 500 passes through ``ResponseHeaders`` like any other response.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracked = TrackedSend(send)
        try:
            await self.app(scope, receive, tracked)
        except StarletteHTTPException:
            raise  # e.g. the body limit's 413, rendered further out
        except Exception as exc:
            if tracked.started:
                raise  # too late for a problem document; the server must drop the connection
            await unexpected_error(scope, exc)(scope, receive, send)


_BODY_PARSE_ERROR = "There was an error parsing the body"

# --- errors the framework raises itself: the app's problem types, not about:blank -------

JSON_ONLY = "Send the body as application/json (this operation takes JSON only)"
# Starlette's and FastAPI's own errors, as the domain error of the same status: an unknown
# path, a method the path does not take, a media type the operation does not take.
_FRAMEWORK_ERRORS: dict[int, type[OnwardError]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PreconditionFailed,
        PayloadTooLarge,
        UnsupportedMediaType,
        PreconditionRequired,
        TooManyRequests,
        ServiceUnavailable,
    )
}
_FRAMEWORK_DETAILS = {
    404: "There is nothing at this path: /docs lists the API's paths.",
    405: "This path does not take that method; the Allow header lists the ones it takes.",
}
# The order methods are listed in ``Allow``.
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def framework_error(request: Request, exc: StarletteHTTPException) -> OnwardError:
    """A framework ``HTTPException`` as the domain error of its status (same problem type).

    A 405 lists in ``Allow`` every method of the path. Starlette's router hands a request
    whose method no route takes to the *first* route of the path, whose ``Allow`` names that
    route's methods only (``GET`` for ``DELETE /v1/me``, though ``PATCH`` is served too):
    the list is rebuilt here from every route that matches the path.
    """
    cls = _FRAMEWORK_ERRORS.get(exc.status_code)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    if cls is None:
        error = OnwardError(headers=headers)
        error.status = exc.status_code
        error.title = HTTPStatus(exc.status_code).phrase
        error.detail = error.title
        return error
    detail = _FRAMEWORK_DETAILS.get(exc.status_code)
    if (
        detail is None
        and isinstance(exc.detail, str)
        and exc.detail != HTTPStatus(exc.status_code).phrase
    ):
        detail = exc.detail  # written by us (a middleware), never a caller's value
    return cls(detail, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app serves at the request's path.

    FastAPI keeps included routers nested; ``iter_route_contexts`` walks every route with
    its full path, which is matched here with Starlette's own path compiler.
    """
    path = request.scope.get("path", "")
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if route.methods and route.path and _path_regex(route.path).match(path):
            methods |= set(route.methods)
    return sorted(
        methods,
        key=lambda m: (_METHOD_ORDER.index(m) if m in _METHOD_ORDER else len(_METHOD_ORDER), m),
    )


@lru_cache(maxsize=512)
def _path_regex(template: str) -> re.Pattern[str]:
    return compile_path(template)[0]


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    main, _, sub = media.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def _not_json(request: Request, exc: RequestValidationError) -> bool:
    """Whether a JSON operation failed because its body was sent as another media type.

    FastAPI reads a body as JSON only when its Content-Type says JSON; otherwise the model
    is handed raw bytes and fails with a 422 about the body's *type*, which tells the caller
    nothing. Such a request is a 415 (API.md §0): the body came with a Content-Type (or
    none at all) that the operation does not take. Form operations (the OAuth endpoints)
    and operations without a body are left alone.
    """
    route = request.scope.get("route")
    body_field = getattr(route, "body_field", None)
    if not isinstance(route, APIRoute) or body_field is None:
        return False
    if isinstance(body_field.field_info, params.Form):
        return False
    content_type = request.headers.get("content-type")
    if content_type is not None and _is_json(content_type):
        return False
    body_errors = [e for e in exc.errors() if tuple(e.get("loc", ()))[:1] == ("body",)]
    if content_type is None:
        # No Content-Type: 415 when a body came (its bytes failed as a whole), not when a
        # required body is simply missing.
        return any(
            tuple(e.get("loc", ())) == ("body",) and e.get("type") != "missing" for e in body_errors
        )
    return bool(body_errors)


def _invalid_json() -> JSONResponse:
    return problem_response(
        422,
        title="The request is not valid",
        detail="The body is not valid JSON.",
        type_=PROBLEM_BASE + "validation-error",
        errors=[{"loc": ["body"], "msg": "The body is not valid JSON"}],
    )


def _unstorable() -> JSONResponse:
    return problem_response(
        422,
        title="The request is not valid",
        detail="A value is out of range, too large or too complex, or holds a character "
        "that cannot be stored (such as NUL, U+0000).",
        type_=PROBLEM_BASE + "validation-error",
        errors=[
            {"loc": [], "msg": "A value is out of range, too large or too complex, or holds NUL"}
        ],
    )


# --- OpenAPI: every error response of the resource API is a problem document -----------

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details. Nothing in it repeats what was sent.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "A relative reference: /problems/<slug>"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "422 only: where and what, never the submitted value.",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"type": "string"},
                },
            },
        },
    },
}
_PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def problem_documents(spec: dict[str, Any]) -> dict[str, Any]:
    """Declare ``application/problem+json`` (the ``Problem`` schema) for every 4xx/5xx of
    the resource API, replacing FastAPI's default ``application/json`` validation error.
    The OAuth endpoints keep their RFC 6749 error bodies. Idempotent."""
    for path, operations in spec.get("paths", {}).items():
        if path.startswith("/oauth/"):
            continue
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if str(status)[:1] in ("4", "5"):
                    response["content"] = dict(_PROBLEM_CONTENT)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    text = repr(spec["paths"])
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}'" not in text:
            schemas.pop(unused, None)
    return spec


def document_problems(app: FastAPI) -> None:
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problem_documents(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
