"""Property tests of disclosure (app/consent/policy.py): the leaver's trust, proved."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.consent.catalogue import FIELDS, LEAVES, PATHS, SECTIONS, SENSITIVE, expand
from app.consent.policy import GrantScope, disclose
from tests.strategies import SECTION_NAMES, documents

# A shared two-core machine: generous on time, modest on examples.
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

offsets = st.integers(min_value=-10_000, max_value=10_000).map(lambda s: timedelta(seconds=s))


@st.composite
def grants(draw: st.DrawFn) -> GrantScope:
    fields = draw(
        st.lists(
            st.one_of(st.sampled_from(sorted(PATHS)), st.sampled_from(["bogus", "contact.x"])),
            min_size=1,
            max_size=6,
        )
    )
    revoked = draw(st.booleans())
    return GrantScope(
        id=uuid.UUID(int=draw(st.integers(min_value=0, max_value=2**64))),
        fields=tuple(fields),
        expires_at=NOW + draw(offsets),
        revoked_at=NOW - timedelta(seconds=1) if revoked else None,
        explicit=draw(st.booleans()),
    )


grant_sets = st.lists(grants(), max_size=6)


SENSITIVE_LEAVES = frozenset(f.path for f in FIELDS if f.sensitivity in SENSITIVE)


def permitted(active: list[GrantScope]) -> frozenset[str]:
    """Standard leaves of any active grant; sensitive ones only of explicit grants."""
    explicitly = expand(p for g in active if g.explicit for p in g.fields)
    return frozenset(
        p
        for p in expand(p for g in active for p in g.fields)
        if p not in SENSITIVE_LEAVES or p in explicitly
    )


def flatten(data: dict[str, Any]) -> dict[str, Any]:
    return {f"{s}.{leaf}": v for s, body in data.items() for leaf, v in body.items()}


@PROPERTY
@given(documents(), grant_sets)
def test_nothing_outside_the_active_grants_is_disclosed(
    doc: dict[str, Any], grant_set: list[GrantScope]
) -> None:
    result = disclose(doc, grant_set, NOW)
    active = [g for g in grant_set if g.revoked_at is None and g.expires_at > NOW]
    allowed = permitted(active)
    disclosed = flatten(result.data)
    assert set(disclosed) <= allowed
    assert set(result.fields) <= allowed
    # data holds exactly the listed leaves, with the document's values, no empty sections
    assert set(disclosed) == set(result.fields)
    assert len(result.fields) == len(set(result.fields))
    for path, value in disclosed.items():
        section, leaf = path.split(".", 1)
        assert value == doc[section][leaf]
    assert all(result.data.values())
    # every allowed leaf that the document holds (in an object, not null) is disclosed:
    # no under-disclosure either
    present = {
        p
        for p in allowed
        if isinstance(doc.get(p.split(".")[0]), dict)
        and doc[p.split(".")[0]].get(p.split(".")[1]) is not None
    }
    assert set(result.fields) == present
    assert set(result.grant_ids) == {g.id for g in active}
    assert "SENTINEL-stray" not in repr(result.data)
    assert "SENTINEL-top" not in repr(result.data)


@PROPERTY
@given(documents(), grant_sets)
def test_revoked_and_expired_grants_disclose_nothing(
    doc: dict[str, Any], grant_set: list[GrantScope]
) -> None:
    dead = [
        GrantScope(g.id, g.fields, NOW - abs(g.expires_at - NOW), g.revoked_at, g.explicit)
        if g.revoked_at is None
        else g
        for g in grant_set
    ]
    result = disclose(doc, dead, NOW)
    assert result.data == {}
    assert result.fields == []
    assert result.grant_ids == []
    # ... and adding dead grants to live ones changes nothing
    live = [g for g in grant_set if g.revoked_at is None and g.expires_at > NOW]
    assert disclose(doc, live + dead, NOW).data == disclose(doc, live, NOW).data


@PROPERTY
@given(documents(), st.sampled_from(SECTION_NAMES), grant_sets)
def test_a_section_grant_equals_the_grant_of_all_its_leaves(
    doc: dict[str, Any], section: str, others: list[GrantScope]
) -> None:
    explicit = bool(others) and others[0].explicit
    as_section = GrantScope(uuid.uuid4(), (section,), NOW + timedelta(days=1), None, explicit)
    as_leaves = GrantScope(
        as_section.id, SECTIONS[section], NOW + timedelta(days=1), None, explicit
    )
    by_section = disclose(doc, [as_section, *others], NOW)
    by_leaves = disclose(doc, [as_leaves, *others], NOW)
    assert by_section == by_leaves


@settings(PROPERTY, max_examples=100)
@given(documents(), grant_sets)
def test_disclosure_only_grows_with_more_grants(
    doc: dict[str, Any], grant_set: list[GrantScope]
) -> None:
    fewer = disclose(doc, grant_set[:-1], NOW)
    more = disclose(doc, grant_set, NOW)
    assert set(fewer.fields) <= set(more.fields)


def test_expiry_is_exclusive_at_now() -> None:
    doc = {"contact": {"phone": "1"}}
    at_now = GrantScope(uuid.uuid4(), ("contact",), NOW)
    assert disclose(doc, [at_now], NOW).fields == []
    later = GrantScope(uuid.uuid4(), ("contact",), NOW + timedelta(microseconds=1))
    assert disclose(doc, [later], NOW).fields == ["contact.phone"]


def test_catalogue_leaves_are_all_disclosable() -> None:
    doc: dict[str, dict[str, str]] = {}
    for path in LEAVES:
        section, leaf = path.split(".")
        doc.setdefault(section, {})[leaf] = "x"
    every = GrantScope(uuid.uuid4(), tuple(SECTION_NAMES), NOW + timedelta(days=1), None, True)
    assert set(disclose(doc, [every], NOW).fields) == LEAVES


@PROPERTY
@given(documents(), grant_sets)
def test_sensitive_leaves_are_disclosed_only_under_explicit_grants(
    doc: dict[str, Any], grant_set: list[GrantScope]
) -> None:
    implicit = [GrantScope(g.id, g.fields, g.expires_at, g.revoked_at, False) for g in grant_set]
    assert not set(disclose(doc, implicit, NOW).fields) & SENSITIVE_LEAVES


def test_progress_latest_needs_an_explicit_grant() -> None:
    doc = {"progress": {"latest": {"readings": {"mental_health": 3}}}}
    plain = GrantScope(uuid.uuid4(), ("progress",), NOW + timedelta(days=1))
    assert disclose(doc, [plain], NOW).fields == []
    explicit = GrantScope(uuid.uuid4(), ("progress",), NOW + timedelta(days=1), None, True)
    assert disclose(doc, [plain, explicit], NOW).fields == ["progress.latest"]
