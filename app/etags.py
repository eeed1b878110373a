"""``If-Match``, parsed once for every versioned resource (RFC 9110 §13.1.1, API.md §0).

Versioned resources (the leaver's profile, offers) answer ``ETag: "<version>"``. A request
that updates one sends the tag back:

* absent (or empty) → 428 where the operation requires it (:func:`require_if_match`);
* ``*`` → matches any current version;
* one or more entity tags, comma-separated (``"3"``, ``"3", "4"``) → matches when one names
  the current version. Comparison is **strong**, as RFC 9110 requires for ``If-Match``: a
  weak tag ``W/"3"`` is well formed but never matches (412), on every resource alike;
* anything else (``3``, ``"3``, ``W/3``) is not an entity tag → 400 saying it must be
  quoted, never a 412 that would suggest the version was merely stale.

Pure: no FastAPI, so the domain services take an :class:`IfMatch` and check it themselves
under the row lock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.errors import BadRequest, PreconditionFailed, PreconditionRequired

# entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text
_ELEMENT = re.compile(r'[ \t]*(?:(W/)?"([\x21\x23-\x7e\x80-\xff]*)")?[ \t]*(?:,|$)')
# A version is a bigint: more than 19 digits name none (and int() of thousands of digits
# raises).
_MAX_VERSION_DIGITS = 19
NOT_QUOTED = (
    'If-Match must be * or a quoted entity tag such as "3" (the ETag exactly as it was '
    "sent, quotes included)"
)


@dataclass(frozen=True)
class IfMatch:
    """What an ``If-Match`` accepts: any version (``*``) or the versions of its strong tags."""

    versions: frozenset[int] | None  # None: "*"

    def matches(self, version: int) -> bool:
        return self.versions is None or version in self.versions

    def check(self, version: int, detail: str) -> None:
        """412 with ``detail`` unless the current ``version`` matches."""
        if not self.matches(version):
            raise PreconditionFailed(detail)


def parse_if_match(header: str | None) -> IfMatch | None:
    """The parsed header, or None when it is absent or empty; 400 when it is malformed."""
    if header is None or not header.strip():
        return None
    text = header.strip()
    if text == "*":
        return IfMatch(None)
    versions: set[int] = set()
    position = 0
    while position < len(text):
        # One list element (an entity tag, or nothing: RFC 9110 §5.6.1 ignores empty
        # elements), then a comma or the end. Quoted tags may hold commas themselves.
        element = _ELEMENT.match(text, position)
        if element is None:
            raise BadRequest(NOT_QUOTED)
        position = element.end()
        weak, opaque = element.group(1), element.group(2)
        if opaque is not None and weak is None and opaque.isascii() and opaque.isdigit():
            if len(opaque) <= _MAX_VERSION_DIGITS:
                versions.add(int(opaque))
    return IfMatch(frozenset(versions))


def require_if_match(header: str | None, missing: str) -> IfMatch:
    """The parsed header; 428 with ``missing`` as the detail when it is absent."""
    parsed = parse_if_match(header)
    if parsed is None:
        raise PreconditionRequired(missing)
    return parsed
