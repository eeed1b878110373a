"""Hypothesis strategies shared by the disclosure properties (pure and on PostgreSQL)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from app.consent.catalogue import FIELDS, SECTIONS

LEAF_PATHS = [f.path for f in FIELDS]
SECTION_NAMES = sorted(SECTIONS)

# Stored documents never hold NUL or lone surrogates (refused at input; PostgreSQL's
# jsonb cannot hold either).
text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=6)

# Any JSON value a leaf might hold (the policy never looks inside a leaf): null is never
# disclosed, falsy values always are.
leaf_values = st.one_of(
    text.map(lambda s: "SENTINEL" + s),
    st.integers(),
    st.booleans(),
    st.dictionaries(st.sampled_from(["level", "notes"]), text, max_size=2),
    st.lists(st.integers(), max_size=2),
    st.sampled_from([None, "", 0, False, [], {}]),
)
# What a section may hold besides an object: something the policy must skip.
odd_sections = st.one_of(st.none(), text, st.lists(st.integers(), max_size=2))


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A profile-shaped document over catalogue paths, plus what no path names: stray keys
    in sections and at the top, and sections that are not objects."""
    doc: dict[str, Any] = {}
    for path in draw(st.sets(st.sampled_from(LEAF_PATHS))):
        section, leaf = path.split(".", 1)
        doc.setdefault(section, {})[leaf] = draw(leaf_values)
    # Keys outside the catalogue (old data, a future section) must never leak either.
    for section in draw(st.sets(st.sampled_from([*SECTION_NAMES, "secret", "extra"]))):
        body = doc.setdefault(section, {})
        if isinstance(body, dict):
            body["unlisted_" + draw(st.text("abc", min_size=1, max_size=3))] = "SENTINEL-stray"
    for section in draw(st.sets(st.sampled_from(SECTION_NAMES), max_size=2)):
        doc[section] = draw(odd_sections)
    if draw(st.booleans()):
        doc["top_level_scalar"] = "SENTINEL-top"
    return doc
