"""Disclosure: which parts of a profile a set of grants lets an organisation see.

Pure: no I/O, no clock (``now`` is passed in). The invariants, proved by property
tests in ``tests/unit/test_consent_policy.py``:

* nothing outside the union of the *active* grants' leaves is ever disclosed;
* a revoked grant, or one whose ``expires_at`` is at or before ``now``, discloses nothing;
* a grant of a section discloses exactly what a grant of all its leaves would;
* ``data`` holds exactly the leaves listed in ``fields``, nested as in the profile, with
  no empty sections.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.consent.catalogue import FIELDS, expand


@dataclass(frozen=True, slots=True)
class GrantScope:
    """What disclosure needs to know about a grant."""

    id: uuid.UUID
    fields: tuple[str, ...]
    expires_at: datetime
    revoked_at: datetime | None = None

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now


@dataclass(frozen=True, slots=True)
class Disclosure:
    data: dict[str, Any]
    # Leaves present in the document and disclosed, in catalogue order.
    fields: list[str]
    # The active grants that were applied (whether or not they disclosed anything present).
    grant_ids: list[uuid.UUID]


# Catalogue order, split once: [(path, section, leaf)].
_ORDERED = tuple((f.path, *f.path.split(".", 1)) for f in FIELDS)


def disclose(
    document: Mapping[str, Any], grants: Iterable[GrantScope], now: datetime
) -> Disclosure:
    """Cut ``document`` down to the leaves covered by the active ``grants``."""
    active = [g for g in grants if g.is_active(now)]
    allowed = expand(path for g in active for path in g.fields)
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


def disclosed_fields_sql(document: str, allowed: str) -> str:
    """:func:`disclose`'s ``fields`` as an SQL expression, for the hot read's access event.

    The partner read writes its access event inside its own statement (one round trip,
    ``profiles.service._READ_ONE``), so the database must know which leaves are disclosed.
    ``document`` is a jsonb expression; ``allowed`` a text[] of the paths the *active*
    grants name. The expression is the leaves of the catalogue, in catalogue order, that
    an allowed path names (itself or its section) and that the document holds with a value
    other than null: the rule of :func:`disclose` over the same catalogue (the arrays are
    built from ``FIELDS``). ``tests/api/test_disclosure_sql.py`` holds it equal to
    ``disclose(...).fields`` on generated documents and grants, and the read itself
    refuses to answer if the two ever differ.
    """
    return _DISCLOSED_SQL.replace("{document}", document).replace("{allowed}", allowed)


def _literal(values: list[str]) -> str:
    # Catalogue names are plain identifiers: nothing here can close a literal.
    for value in values:
        if not re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?", value):
            raise ValueError(f"catalogue name is not a plain identifier: {value!r}")
    return "'{" + ",".join(values) + "}'::text[]"


# The catalogue as three parallel arrays, walked in catalogue order.
_DISCLOSED_SQL = (
    "ARRAY(SELECT c.path FROM unnest("  # noqa: S608 - catalogue constants, no input
    + ", ".join(_literal([row[i] for row in _ORDERED]) for i in range(3))
    + ") WITH ORDINALITY AS c(path, section, leaf, n)"
    " WHERE (c.path = ANY({allowed}) OR c.section = ANY({allowed}))"
    " AND jsonb_typeof({document} -> c.section -> c.leaf) <> 'null' ORDER BY c.n)"
)
