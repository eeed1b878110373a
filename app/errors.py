"""Domain errors and the one place that turns them into RFC 9457 problem documents.

    OnwardError (500)
     ├── BadRequest (400)
     ├── Unauthorized (401, WWW-Authenticate: Bearer …)
     ├── Forbidden (403, insufficient_scope)
     ├── NotFound (404)          what the caller may not see is also NotFound
     ├── MethodNotAllowed (405, Allow)
     ├── Conflict (409)
     ├── PreconditionFailed (412)
     ├── PayloadTooLarge (413)
     ├── UnsupportedMediaType (415)
     ├── ValidationFailed (422, errors=[{loc, msg}])
     │    └── ExplicitConsentRequired (422)
     ├── PreconditionRequired (428)
     ├── TooManyRequests (429, Retry-After)
     └── ServiceUnavailable (503)

Domain packages raise these; ``api/`` never builds error bodies by hand. Problem
``type`` values are relative URI references (``/problems/<slug>``), resolved against
the API's base URL. Nothing here echoes submitted values: a PIN or a story must never
come back in an error.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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

from app.middleware import TrackedSend

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "/problems/"


class OnwardError(Exception):
    status: int = 500
    slug: str = "internal-error"
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = dict(headers or {})
        self.errors = list(errors) if errors is not None else None

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.slug


class BadRequest(OnwardError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(OnwardError):
    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(OnwardError):
    status, slug, title = 403, "insufficient-scope", "Insufficient scope"


class NotFound(OnwardError):
    status, slug, title = 404, "not-found", "Not found"


class MethodNotAllowed(OnwardError):
    status, slug, title = 405, "method-not-allowed", "Method not allowed"


class Conflict(OnwardError):
    status, slug, title = 409, "conflict", "Conflict"


class PreconditionFailed(OnwardError):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


class PayloadTooLarge(OnwardError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class UnsupportedMediaType(OnwardError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(OnwardError):
    status, slug, title = 422, "validation-error", "The request is not valid"

    def __init__(
        self,
        detail: str | None = None,
        *,
        loc: Sequence[str | int] | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if errors is None:
            errors = [{"loc": list(loc or []), "msg": detail or self.title}]
        super().__init__(detail, errors=errors, headers=headers)


class ExplicitConsentRequired(ValidationFailed):
    slug, title = "explicit-consent-required", "Explicit consent required"


class PreconditionRequired(OnwardError):
    status, slug, title = 428, "precondition-required", "If-Match required"


class TooManyRequests(OnwardError):
    status, slug, title = 429, "too-many-requests", "Too many requests"


class ServiceUnavailable(OnwardError):
    status, slug, title = 503, "service-unavailable", "Service unavailable"


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


# A location part is a field name we defined (snake_case), an alias such as ``If-Match``,
# or an index. Anything else in a ``loc`` came from the caller: the name of an unknown key,
# which could be a PIN or a sentence of a story typed into the wrong place. It is replaced,
# and so is every key pydantic reports as unknown (``extra_forbidden``), however plain it
# looks: a caller-chosen name is never repeated back.
_NAME = re.compile(r"^[A-Za-z_][a-z0-9_]{0,39}$|^[A-Z][A-Za-z]*(-[A-Z][A-Za-z]*)+$")
UNKNOWN_KEY = "<unknown>"
# A 422 lists at most this many errors (a body of ten thousand unknown keys answers 20).
MAX_ERRORS = 20
# Error kinds whose location names a caller-chosen key: its last part (or the part before
# pydantic's ``[key]`` marker) is the key, replaced whatever it looks like.
_KEY_ERRORS = frozenset({"extra_forbidden"})

# Pydantic messages that quote part of the input (``found `x` at 3``): a fixed text instead.
_FIXED_MESSAGES = {
    "uuid_parsing": "Input should be a valid UUID",
    "uuid_type": "Input should be a valid UUID",
    "json_invalid": "The body is not valid JSON",
    "extra_forbidden": "Unknown field: it is not part of this request",
}


# Messages are plain words, never a regular expression (API.md §0): what each pattern a
# model or parameter declares means. A pattern missing here still gets plain words (the
# fallback); tests/api/test_http_details.py holds every pattern of the spec to have its own.
_ONS = "must be an ONS area code: E, N, S or W and 8 digits, such as E06000038"
_EMAIL = "must be an email address, such as name@example.org"
PATTERN_WORDS: dict[str, str] = {
    r"^[ENSW][0-9]{8}$": _ONS,
    r"^[EWSN][0-9]{8}$": _ONS,
    r"^\+?[0-9 ()\-]{3,40}$": "must be a phone number: digits, spaces, brackets and dashes, "
    "with an optional + first",
    r"^[^@\s<>()\[\],;:\"]{1,64}@[^@\s<>()\[\],;:\"]+\.[^@\s]+$": _EMAIL,
    r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$": _EMAIL,
    r"^https?://[^\s]+$": "must be an http or https URL, such as https://example.org/help",
    r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$": "must be a language tag, such as en or cy-GB",
    r"^[0-9]{6,12}$": "must be 6 to 12 digits",
    r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$": "must be a time of day HH:MM, such as 09:30 "
    "(24:00 allowed as a closing time)",
}
PATTERN_FALLBACK = "is not in the expected format; see the description of this field"


def safe_loc(
    loc: Sequence[Any],
    *,
    unknown_key: bool = False,
    bad_keys: frozenset[tuple[Any, ...]] = frozenset(),
) -> list[str | int]:
    """A pydantic location with every caller-chosen key name replaced (never echoed).

    ``unknown_key``: the last part is a key the caller chose (an ``extra_forbidden``
    error), replaced whatever it looks like. ``bad_keys``: locations of dict keys that
    failed validation (pydantic marks them with a trailing ``[key]``), masked wherever
    they appear, also in the errors about their values.
    """
    parts = list(loc)
    if parts and parts[-1] == "[key]":
        parts.pop()
        unknown_key = True
    out: list[str | int] = []
    for index, part in enumerate(parts):
        if isinstance(part, int):
            out.append(part)
            continue
        text = str(part)
        caller_chosen = (unknown_key and index == len(parts) - 1) or tuple(
            parts[: index + 1]
        ) in bad_keys
        out.append(UNKNOWN_KEY if caller_chosen or not _NAME.match(text) else text)
    return out


def safe_message(error: Mapping[str, Any]) -> str:
    """The message of one pydantic error, never containing what was sent."""
    kind = str(error.get("type", ""))
    if kind in _FIXED_MESSAGES:
        return _FIXED_MESSAGES[kind]
    if kind == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern")
        return PATTERN_WORDS.get(str(pattern), PATTERN_FALLBACK)
    msg = str(error.get("msg", "invalid value"))
    sent = error.get("input")
    if isinstance(sent, str) and len(sent) >= 3 and sent in msg:
        return "Invalid value"
    return msg


def safe_errors(
    errors: Iterable[Mapping[str, Any]], loc_prefix: Sequence[str | int] = ()
) -> list[dict[str, Any]]:
    """Pydantic errors as ``{loc, msg}``: no submitted value, no caller-chosen key name,
    at most :data:`MAX_ERRORS` of them (pydantic's ``input`` and ``ctx`` are dropped)."""
    listed = list(errors)
    bad_keys = frozenset(
        tuple(e["loc"][:-1]) for e in listed if e.get("loc") and e["loc"][-1] == "[key]"
    )
    out: list[dict[str, Any]] = []
    for error in listed[:MAX_ERRORS]:
        loc = safe_loc(
            error.get("loc", ()),
            unknown_key=error.get("type") in _KEY_ERRORS,
            bad_keys=bad_keys,
        )
        out.append({"loc": [*loc_prefix, *loc], "msg": safe_message(error)})
    return out


def refuse_nul(value: Any) -> Any:
    """A field validator for request models: PostgreSQL stores no U+0000 in text or JSONB,
    so a string holding one (or a list of such) is refused where it is, with its location.
    The database backstop below (:func:`refused_input`) covers what no model checks."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain the NUL character (U+0000)")
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            refuse_nul(item)
    return value


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Location and message only: pydantic's ``input`` and ``ctx`` may hold what was sent."""
    return safe_errors(exc.errors())


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        current = (
            orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)
        )


# SQLSTATE classes a statement fails with because of the values it was given, never
# because of a fault: 22 data exception (a NUL character in text or JSONB, a number or a
# date out of its range, an invalid regular expression), 54 program limit exceeded (a
# value or a query too large or too complex for the server).
_INPUT_SQLSTATE_CLASSES = ("22", "54")


def refused_input(exc: BaseException) -> bool:
    """Whether the database refused a statement because of the values in it (SQLSTATE
    classes 22 and 54, and a full-text query the server cannot parse, which it reports as
    an internal error naming ``tsquery``), or Python overflowed on one.

    Request models and the search sanitiser bound what they can; this is the backstop that
    keeps whatever still gets through a 422 instead of a 500. The statement failed, so
    nothing was stored.
    """
    for link in _chain(exc):
        if isinstance(link, OverflowError):
            return True
        if isinstance(link, asyncpg.PostgresError):
            state = str(getattr(link, "sqlstate", "") or "")
            if state.startswith(_INPUT_SQLSTATE_CLASSES):
                return True
            # e.g. "tsquery stack too small": raised with elog(ERROR), so SQLSTATE XX000.
            return state == "XX000" and "tsquery" in str(getattr(link, "message", ""))
    return False


# --- database faults (API.md §0 "faults") ------------------------------------------------
#
# The database is unreachable, restarting or too slow: the request answers 503 with
# Retry-After, never 500, on every endpoint. These are recognised here, in one place, for
# every way a request reaches the database (the engine, the hot path's asyncpg pool).

# 08 connection exception; 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot
# connect now (starting up, shutting down, in recovery), 57P04 database dropped; 53300 too
# many connections; 25006 read-only transaction (a write reached a standby during a
# failover).
_LOST_SQLSTATES = ("08", "57P0", "53300", "25006")
# 57014 statement cancelled (statement_timeout), 55P03 lock not available (lock_timeout).
_TIMEOUT_SQLSTATES = ("57014", "55P03")
RETRY_AFTER_SECONDS = 5
DB_UNAVAILABLE = "The service cannot reach its database just now. Try again shortly."


def database_fault(exc: BaseException) -> str | None:
    """``"lost"`` when the database connection failed or could not be made, ``"timeout"``
    when a wait on the database passed ``ONWARD_DB__TIMEOUT_SECONDS``, else None."""
    for link in _chain(exc):
        if isinstance(link, sqlalchemy.exc.TimeoutError | TimeoutError):
            return "timeout"  # the pool's acquire, asyncpg's command or connect timeout
        if isinstance(link, asyncpg.PostgresError):
            state = str(getattr(link, "sqlstate", "") or "")
            if state.startswith(_TIMEOUT_SQLSTATES):
                return "timeout"
            if state.startswith(_LOST_SQLSTATES):
                return "lost"
            return None  # any other SQLSTATE is the statement's own error
        if isinstance(link, asyncpg.InterfaceError | asyncpg.InternalClientError | OSError):
            # InterfaceError: the connection closed under the statement
            # (ConnectionDoesNotExistError) or was already closed; InternalClientError: its
            # protocol state broke as the server went away mid-statement; OSError: refused,
            # reset, unreachable, no socket (asyncpg raises it as it is).
            return "lost"
        if isinstance(link, sqlalchemy.exc.DBAPIError) and link.connection_invalidated:
            return "lost"
    return None


def database_unavailable(request_path: str, exc: BaseException) -> JSONResponse:
    """The 503 of a database fault: RFC 6749 JSON on /oauth/*, a problem elsewhere.

    Logged by kind and SQLSTATE only (messages can hold values)."""
    kinds = " <- ".join(
        type(link).__name__ + (f"[{state}]" if (state := getattr(link, "sqlstate", None)) else "")
        for link in _chain(exc)
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


def _summary(exc: BaseException) -> str:
    """What to log about an unexpected error: types and frames, never messages.

    Messages of validation and database errors carry the values involved (a profile being
    serialised, SQL parameters), and no personal data, PIN or token may reach the logs.
    """
    kinds = " <- ".join(
        type(link).__name__ + (f"[{state}]" if (state := getattr(link, "sqlstate", None)) else "")
        for link in _chain(exc)
    )
    errors = getattr(exc, "errors", None)
    locs = ""
    if callable(errors):
        try:
            locs = "; ".join(
                f"{'.'.join(map(str, safe_loc(e.get('loc', ()))))}: {e.get('type')}"
                for e in errors()
            )
        except Exception:  # pragma: no cover - best effort only
            locs = ""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    return f"{kinds} {locs}\n{frames}".rstrip()


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
        log.warning("value refused by the database: %s", _summary(exc).splitlines()[0])
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
    log.error("unhandled error: %s", _summary(exc))
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
