"""Disclosure: which parts of a profile a set of grants lets an organisation see.

Pure: no I/O, no clock (``now`` is passed in). The invariants, proved by property
tests in ``tests/unit/test_consent_policy.py``:

* nothing outside the union of the *active* grants' leaves is ever disclosed;
* a revoked grant, or one whose ``expires_at`` is at or before ``now``, discloses nothing;
* a grant of a section discloses exactly what a grant of all its leaves would;
* a special-category or criminal-offence leaf is disclosed only under a grant given with
  explicit consent (grants are refused without it, so this only bites on grants made
  before a field became sensitive, such as ``progress.latest`` in API version 2);
* ``data`` holds exactly the leaves listed in ``fields``, nested as in the profile, with
  no empty sections.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.consent.catalogue import FIELDS, SENSITIVE, expand


@dataclass(frozen=True, slots=True)
class GrantScope:
    """What disclosure needs to know about a grant."""

    id: uuid.UUID
    fields: tuple[str, ...]
    expires_at: datetime
    revoked_at: datetime | None = None
    explicit: bool = False

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now


@dataclass(frozen=True, slots=True)
class Disclosure:
    data: dict[str, Any]
    # Leaves present in the document and disclosed, in catalogue order.
    fields: list[str]
    # The active grants that were applied (whether or not they disclosed anything present).
    grant_ids: list[uuid.UUID]


_SENSITIVE_LEAVES = frozenset(f.path for f in FIELDS if f.sensitivity in SENSITIVE)

# Catalogue order, split once: [(path, section, leaf)].
_ORDERED = tuple((f.path, *f.path.split(".", 1)) for f in FIELDS)


def disclose(
    document: Mapping[str, Any], grants: Iterable[GrantScope], now: datetime
) -> Disclosure:
    """Cut ``document`` down to the leaves covered by the active ``grants``."""
    active = [g for g in grants if g.is_active(now)]
    allowed = expand(path for g in active for path in g.fields)
    explicitly = expand(path for g in active if g.explicit for path in g.fields)
    allowed = frozenset(p for p in allowed if p not in _SENSITIVE_LEAVES or p in explicitly)
    data: dict[str, Any] = {}
    fields: list[str] = []
    for path, section, leaf in _ORDERED:
        if path not in allowed:
            continue
        part = document.get(section)
        if not isinstance(part, Mapping) or part.get(leaf) is None:
            continue
        data.setdefault(section, {})[leaf] = part[leaf]
        fields.append(path)
    return Disclosure(data, fields, [g.id for g in active])
