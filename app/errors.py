"""Domain errors: a short class tree carrying status and problem ``type`` (no framework).

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

Domain packages raise these; ``app.api.errors`` is the one place that turns them into
RFC 9457 problem documents, and ``api/`` never builds error bodies by hand. Problem
``type`` values are relative URI references (``/problems/<slug>``), resolved against
the API's base URL. Nothing here echoes submitted values: a PIN or a story must never
come back in an error. This module also recognises, without any framework, the two
kinds of database failure the HTTP mapping answers specially: values the database
refused (:func:`refused_input`, a 422) and faults (:func:`database_fault`, a 503).
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import asyncpg
import sqlalchemy.exc

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


def chain(exc: BaseException) -> Iterator[BaseException]:
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
    for link in chain(exc):
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
    for link in chain(exc):
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


def summary(exc: BaseException) -> str:
    """What to log about an unexpected error: types and frames, never messages.

    Messages of validation and database errors carry the values involved (a profile being
    serialised, SQL parameters), and no personal data, PIN or token may reach the logs.
    """
    kinds = " <- ".join(
        type(link).__name__ + (f"[{state}]" if (state := getattr(link, "sqlstate", None)) else "")
        for link in chain(exc)
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
