"""Domain errors and the one place that turns them into RFC 9457 problem documents.

    OnwardError (500)
     ├── BadRequest (400)
     ├── Unauthorized (401, WWW-Authenticate: Bearer …)
     ├── Forbidden (403, insufficient_scope)
     ├── NotFound (404)          what the caller may not see is also NotFound
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
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

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
        body["errors"] = list(errors)
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON
    )


def _safe_loc(loc: Sequence[Any]) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in loc]


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Location and message only: pydantic's ``input`` and ``ctx`` may hold what was sent."""
    out: list[dict[str, Any]] = []
    for err in exc.errors():
        msg = str(err.get("msg", "invalid value"))
        if err.get("type") == "json_invalid":
            msg = "The body is not valid JSON"
        out.append({"loc": _safe_loc(err.get("loc", ())), "msg": msg})
    return out


def install_error_handlers(app: FastAPI) -> None:
    async def onward_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OnwardError)
        return problem_response(
            exc.status,
            title=exc.title,
            detail=exc.detail,
            type_=exc.type,
            headers=exc.headers,
            errors=exc.errors,
        )

    async def request_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(
            422,
            title="The request is not valid",
            detail="One or more fields are invalid; see errors.",
            type_=PROBLEM_BASE + "validation-error",
            errors=validation_errors(exc),
        )

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(exc.status_code, detail=detail, headers=exc.headers)

    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Logged with its trace for operators; the client sees no internals.
        log.error("unhandled error", exc_info=exc)
        return problem_response(
            500, detail="Something went wrong on our side.", type_=PROBLEM_BASE + "internal-error"
        )

    app.add_exception_handler(OnwardError, onward_error)
    app.add_exception_handler(RequestValidationError, request_validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
