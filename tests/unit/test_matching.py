"""Matching: eligibility never leaks an ineligible offer; ranking by need, then soonest."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.offers.matching import OFFER_PARTS, ineligibility, leaver_from_profile, match_offers

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
FRIDAY_RELEASE = "2026-11-27T15:30:00Z"  # Friday 15:30 in London (GMT)
READING, OXFORD = "E06000038", "E07000178"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def offer(
    category: str = "accommodation",
    *,
    genders: list[str] | None = None,
    min_age: int | None = None,
    max_age: int | None = None,
    cohorts: list[str] | None = None,
    areas: list[str] | None = None,
    local: bool = False,
    weekly: list[tuple[str, str, str]] | None = None,
    always_open: bool = False,
    gate: bool = False,
    id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": id or str(uuid.uuid4()),
        "category": category,
        "eligibility": {
            "genders": genders or [],
            "min_age": min_age,
            "max_age": max_age,
            "cohorts": cohorts or [],
            "areas": areas or [],
            "requires_local_connection": local,
        },
        "delivery": {"modes": ["in_person"], "meet_at_gate": gate},
        "schedule": {
            "always_open": always_open,
            "weekly": [{"day": d, "opens": o, "closes": c} for d, o, c in (weekly or [])],
        },
    }


def profile(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "identity": {"gender": "woman", "date_of_birth": "2003-05-01"},
        "release": {"expected_at": FRIDAY_RELEASE, "area": READING, "sentence_months": 8},
        "needs": {
            "accommodation": {"level": "high", "notes": ""},
            "education_work": {"level": "medium", "notes": ""},
            "health": {"level": "low", "notes": ""},
        },
    }
    for key, value in overrides.items():
        section, leaf = key.split("__")
        if value is None:
            doc[section].pop(leaf, None)
        else:
            doc[section][leaf] = value
    return doc


def test_cohorts_are_derived_from_the_profile() -> None:
    leaver = leaver_from_profile(profile(), NOW)
    assert leaver.age == 23
    assert leaver.cohorts == {"women", "young_adult", "short_sentence"}
    older = leaver_from_profile(
        profile(identity__gender="man", identity__date_of_birth="1980-01-01"), NOW
    )
    assert older.cohorts == {"short_sentence"}


def test_eligibility_rules() -> None:
    woman = leaver_from_profile(profile(), NOW)
    man = leaver_from_profile(profile(identity__gender="man"), NOW)
    no_dob = leaver_from_profile(profile(identity__date_of_birth=None), NOW)
    assert ineligibility(woman, offer(genders=["woman"])) is None
    assert ineligibility(man, offer(genders=["woman"])) == "gender"
    assert ineligibility(woman, offer(min_age=26)) == "age"
    assert ineligibility(no_dob, offer(min_age=18)) == "age unknown"
    assert ineligibility(no_dob, offer()) is None
    assert ineligibility(man, offer(cohorts=["women"])) == "cohort"
    assert ineligibility(woman, offer(cohorts=["veteran"])) == "cohort"
    assert ineligibility(woman, offer(cohorts=["veteran", "young_adult"])) is None
    assert ineligibility(woman, offer(areas=[OXFORD], local=True)) == "local connection"
    assert ineligibility(woman, offer(areas=[OXFORD], local=False)) is None
    assert ineligibility(woman, offer(areas=[READING, OXFORD], local=True)) is None


def test_friday_afternoon_release() -> None:
    office = offer("education_work", weekly=[(d, "09:00", "17:00") for d in WEEKDAYS])
    late = offer("education_work", weekly=[(d, "09:00", "15:00") for d in WEEKDAYS])
    saturday = offer("accommodation", weekly=[("sat", "10:00", "13:00")])
    line = offer("health", always_open=True)
    ranked = match_offers(profile(), [office, late, saturday, line], NOW)
    by_id = {m.offer["id"]: m for m in ranked}
    released = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
    assert by_id[office["id"]].next_open_at == released
    assert "Open when you are released" in by_id[office["id"]].reasons
    assert by_id[late["id"]].next_open_at == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert "Open Monday 09:00, 3 days after you are released" in by_id[late["id"]].reasons
    sat = by_id[saturday["id"]]
    assert sat.next_open_at == datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    assert sat.reasons[:2] == [
        "Matches your high need: accommodation",
        "Open Saturday 10:00, the day after you are released",
    ]
    assert by_id[line["id"]].next_open_at == released
    assert "Open 24 hours" in by_id[line["id"]].reasons
    # High need (accommodation) first; then medium need opening at release before Monday.
    assert [m.offer["id"] for m in ranked][:3] == [saturday["id"], office["id"], late["id"]]


def test_unknown_release_uses_now() -> None:
    doc = profile(release__expected_at=None)
    [m] = match_offers(doc, [offer(always_open=True)], NOW)
    assert m.next_open_at == NOW


def test_reasons_mention_the_gate_and_the_area() -> None:
    [m] = match_offers(profile(), [offer(gate=True, areas=[READING], always_open=True)], NOW)
    assert "Meets you at the gate" in m.reasons
    assert "Works in the area you are released to" in m.reasons


def test_within_window_ranks_above_the_same_offer_after_it() -> None:
    soon = offer(weekly=[("sat", "10:00", "12:00")], id="b")
    later = offer(weekly=[("wed", "10:00", "12:00")], id="a")  # Wednesday is > 72 h away
    ranked = match_offers(profile(), [later, soon], NOW, within_hours=72)
    assert [m.offer["id"] for m in ranked] == ["b", "a"]
    assert ranked[0].score > ranked[1].score


# --- properties ------------------------------------------------------------------------

categories = st.sampled_from(
    ["accommodation", "education_work", "health", "finance_id", "wellbeing", "practical"]
)
offers_strategy = st.builds(
    offer,
    categories,
    genders=st.lists(st.sampled_from(["woman", "man", "non_binary"]), max_size=2, unique=True),
    min_age=st.none() | st.integers(16, 30),
    max_age=st.none() | st.integers(20, 70),
    cohorts=st.lists(
        st.sampled_from(["women", "young_adult", "short_sentence", "veteran"]),
        max_size=2,
        unique=True,
    ),
    areas=st.lists(st.sampled_from([READING, OXFORD]), max_size=2, unique=True),
    local=st.booleans(),
    weekly=st.lists(
        st.tuples(
            st.sampled_from((*WEEKDAYS, "sat", "sun")),
            st.sampled_from(["08:00", "10:00", "16:00"]),
            st.sampled_from(["17:00", "20:00"]),
        ),
        max_size=3,
    ),
    always_open=st.booleans(),
    gate=st.booleans(),
)
profiles = st.builds(
    profile,
    identity__gender=st.sampled_from(["woman", "man", "non_binary", None]),
    identity__date_of_birth=st.sampled_from(["2003-05-01", "1970-02-02", None]),
    release__area=st.sampled_from([READING, OXFORD, None]),
    release__sentence_months=st.sampled_from([6, 30, None]),
)


@settings(max_examples=200, deadline=None)
@given(profiles, st.lists(offers_strategy, max_size=8))
def test_an_ineligible_offer_never_appears(doc: dict[str, Any], offers: list[Any]) -> None:
    leaver = leaver_from_profile(doc, NOW)
    listed = {m.offer["id"] for m in match_offers(doc, offers, NOW)}
    for o in offers:
        assert (o["id"] in listed) == (ineligibility(leaver, o) is None)


@settings(max_examples=100, deadline=None)
@given(profiles, st.lists(offers_strategy, max_size=6))
def test_matching_reads_only_the_offer_parts_it_declares(
    doc: dict[str, Any], offers: list[Any]
) -> None:
    """offers.service ranks on OFFER_PARTS of the stored bodies: nothing else may count."""
    parts = [{k: o[k] for k in ("id", *OFFER_PARTS)} for o in offers]
    whole = [{**o, "title": "T", "description": "D", "capacity": 3, "full": True} for o in offers]

    def ranking(given: list[Any]) -> list[tuple[Any, ...]]:
        return [
            (m.offer["id"], m.score, m.reasons, m.next_open_at)
            for m in match_offers(doc, given, NOW)
        ]

    assert ranking(parts) == ranking(whole)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["high", "medium", "low"]), st.sampled_from(["medium", "low", "none"]))
def test_higher_need_ranks_above_lower_need_when_opening_is_equal(higher: str, lower: str) -> None:
    order = ["none", "low", "medium", "high"]
    if order.index(higher) <= order.index(lower):
        return
    doc = profile()
    doc["needs"] = {
        "accommodation": {"level": lower, "notes": ""},
        "education_work": {"level": higher, "notes": ""},
    }
    hours = [("sat", "10:00", "12:00")]
    a = offer("accommodation", weekly=hours, id="0")
    b = offer("education_work", weekly=hours, id="1")
    ranked = match_offers(doc, [a, b], NOW)
    assert [m.offer["id"] for m in ranked] == ["1", "0"]
