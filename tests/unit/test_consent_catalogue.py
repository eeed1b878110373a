"""The catalogue is the one definition of the profile's leaves: hold the schema to it."""

from __future__ import annotations

from typing import Any, cast

import pytest
from pydantic import BaseModel
from sqlalchemy import CheckConstraint, Table

from app.consent.catalogue import (
    FIELDS,
    LEAVES,
    PATHS,
    PURPOSE_CODES,
    SECTIONS,
    expand,
    normalise_paths,
    sensitive_leaves,
)
from app.models.profiles import ConsentGrant
from app.profiles.schema import ProfileData


def _model_of(annotation: Any) -> type[BaseModel]:
    for arg in getattr(annotation, "__args__", (annotation,)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    raise AssertionError(annotation)


def test_schema_leaves_are_exactly_the_catalogue() -> None:
    schema_leaves = {
        f"{section}.{leaf}"
        for section, info in ProfileData.model_fields.items()
        for leaf in _model_of(info.annotation).model_fields
    }
    assert schema_leaves == LEAVES


def test_sensitivity_labels_follow_the_contract() -> None:
    by = {f.path: f.sensitivity for f in FIELDS}
    special = {p for p, s in by.items() if s == "special_category"}
    criminal = {p for p, s in by.items() if s == "criminal_offence"}
    assert special == {"needs.drugs_alcohol", "needs.health", "story.summary", "progress.latest"}
    assert criminal == {"offence.summary", "offence.category"}


def test_sections_stand_for_their_leaves() -> None:
    assert expand(["contact"]) == {
        "contact.phone",
        "contact.email",
        "contact.address",
        "contact.preferred_method",
        "contact.best_times",
    }
    assert expand(["progress"]) == {"progress.latest"}
    assert expand(["bogus", "contact.nope"]) == frozenset()
    assert PATHS == LEAVES | set(SECTIONS)


@pytest.mark.parametrize(
    ("paths", "sensitive"),
    [
        (["contact"], []),
        (["needs"], ["needs.drugs_alcohol", "needs.health"]),
        (["needs.accommodation"], []),
        (["story"], ["story.summary"]),
        (["offence"], ["offence.summary", "offence.category"]),
        (["identity", "offence.category"], ["offence.category"]),
    ],
)
def test_sensitive_leaves_reached_by_sections_too(paths: list[str], sensitive: list[str]) -> None:
    assert sensitive_leaves(paths) == sensitive


def test_paths_are_deduplicated_in_order() -> None:
    assert normalise_paths(["contact", " contact", "identity.gender", "contact"]) == [
        "contact",
        "identity.gender",
    ]


def test_purpose_check_constraint_matches_catalogue() -> None:
    (check,) = [
        c
        for c in cast(Table, ConsentGrant.__table__).constraints
        if isinstance(c, CheckConstraint) and "purpose" in str(c.name)
    ]
    for code in PURPOSE_CODES:
        assert f"'{code}'" in str(check.sqltext)
    assert PURPOSE_CODES == (
        "referral",
        "support_delivery",
        "case_coordination",
        "pre_release_planning",
    )
