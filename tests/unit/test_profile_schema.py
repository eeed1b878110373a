"""The strict profile document and the merge patch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import ValidationFailed
from app.profiles.merge_patch import apply_merge_patch
from app.profiles.schema import validate_document
from tests.api.consent_helpers import full_document


def test_full_document_is_valid_and_normalised() -> None:
    doc = validate_document(full_document(), ("body",))
    # Offsets are stored in UTC with Z.
    assert doc["release"]["expected_at"] == "2026-12-04T09:00:00Z"
    assert doc["plan"]["goals"][0]["status"] == "in_progress"


def test_expected_at_converted_to_utc() -> None:
    doc = validate_document({"release": {"expected_at": "2026-06-01T10:00:00+01:00"}}, ())
    assert doc == {"release": {"expected_at": "2026-06-01T09:00:00Z"}}


def test_empty_sections_and_nulls_are_dropped() -> None:
    assert validate_document({"contact": {"phone": None}, "story": {}}, ()) == {}


@pytest.mark.parametrize(
    ("doc", "loc"),
    [
        ({"secret": {}}, ["body", "<unknown>"]),
        ({"contact": {"fax": "1"}}, ["body", "contact", "<unknown>"]),
        ({"identity": {"gender": "x"}}, ["body", "identity", "gender"]),
        ({"identity": {"given_name": "a" * 101}}, ["body", "identity", "given_name"]),
        ({"story": {"summary": "s" * 4001}}, ["body", "story", "summary"]),
        ({"contact": {"email": "not-an-email"}}, ["body", "contact", "email"]),
        ({"release": {"area": "Reading"}}, ["body", "release", "area"]),
        ({"release": {"expected_at": "2026-06-01T10:00:00"}}, ["body", "release", "expected_at"]),
        ({"needs": {"health": {"notes": "n"}}}, ["body", "needs", "health", "level"]),
        ({"needs": {"health": {"level": "severe"}}}, ["body", "needs", "health", "level"]),
        ({"preferences": {"language": "english please"}}, ["body", "preferences", "language"]),
        ({"plan": {"goals": [{"title": "t"}] * 51}}, ["body", "plan", "goals"]),
    ],
)
def test_invalid_documents_are_refused_without_echo(doc: dict[str, Any], loc: list[str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_document(doc, ("body",))
    errors = caught.value.errors or []
    assert any(e["loc"][: len(loc)] == loc for e in errors), errors
    assert "Reading" not in repr(errors)
    assert "english please" not in repr(errors)


def test_date_of_birth_not_in_the_future() -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    with pytest.raises(ValidationFailed):
        validate_document({"identity": {"date_of_birth": tomorrow}}, ())


def test_merge_patch_rfc7396_examples() -> None:
    # RFC 7396 Appendix A, a selection
    assert apply_merge_patch({"a": "b"}, {"a": "c"}) == {"a": "c"}
    assert apply_merge_patch({"a": "b"}, {"b": "c"}) == {"a": "b", "b": "c"}
    assert apply_merge_patch({"a": "b"}, {"a": None}) == {}
    assert apply_merge_patch({"a": ["b"]}, {"a": "c"}) == {"a": "c"}
    assert apply_merge_patch({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}) == {"a": {"b": "d"}}
    assert apply_merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}
    assert apply_merge_patch({}, {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}
    assert apply_merge_patch(["a", "b"], ["c", "d"]) == ["c", "d"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda children: st.dictionaries(st.text("abc", max_size=2), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text("abc", max_size=2), json_values, max_size=3), json_values)
def test_merge_patch_is_idempotent_and_leaves_the_target_alone(
    target: dict[str, Any], patch: Any
) -> None:
    before = repr(target)
    once = apply_merge_patch(target, patch)
    assert apply_merge_patch(once, patch) == once
    assert repr(target) == before
