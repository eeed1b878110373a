"""Release-day matching (API.md §4): eligibility, when it can be reached, the order, true
reasons. Named Friday-release scenarios, then hypothesis properties."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.offers.matching import (
    OFFER_PARTS,
    PATHWAY_LABELS,
    explain_exclusions,
    ineligibility,
    leaver_from_profile,
    match_offers,
)
from app.offers.places import LOCAL_AUTHORITIES, PRISONS, distance_km

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
FRIDAY_RELEASE = "2026-11-27T15:30:00Z"  # Friday 15:30 in London (GMT)
READING, OXFORD, SLOUGH = "E06000038", "E07000178", "E06000039"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
ALL_DAYS = (*WEEKDAYS, "sat", "sun")


def town(code: str) -> dict[str, Any]:
    place = LOCAL_AUTHORITIES[code]
    return {"name": place.name, "latitude": place.latitude, "longitude": place.longitude}


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
    bank_holidays: bool = False,
    closures: list[tuple[str, str, str]] | None = None,
    gate: list[str] | None = None,
    workers: list[str] | None = None,
    locations: list[dict[str, Any]] | None = None,
    full: bool = False,
    title: str = "An offer",
    id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": id or str(uuid.uuid4()),
        "title": title,
        "category": category,
        "full": full,
        "eligibility": {
            "genders": genders or [],
            "min_age": min_age,
            "max_age": max_age,
            "cohorts": cohorts or [],
            "areas": areas or [],
            "requires_local_connection": local,
        },
        "delivery": {
            "modes": ["in_person"],
            "meet_at_gate": bool(gate),
            "gate_establishments": gate or [],
            "worker_genders": workers or [],
        },
        "locations": locations or [],
        "schedule": {
            "always_open": always_open,
            "weekly": [{"day": d, "opens": o, "closes": c} for d, o, c in (weekly or [])],
            "open_on_bank_holidays": bank_holidays,
            "closures": [{"from": f, "until": u, "note": n} for f, u, n in (closures or [])],
        },
    }


def profile(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "identity": {"gender": "man", "date_of_birth": "1988-09-30"},
        "release": {
            "expected_at": FRIDAY_RELEASE,
            "establishment_code": "BLI",
            "area": READING,
            "sentence_months": 8,
        },
        "needs": {
            "accommodation": {"level": "high"},
            "education_work": {"level": "medium"},
            "health": {"level": "low"},
        },
        "preferences": {},
    }
    for key, value in overrides.items():
        section, leaf = key.split("__")
        if value is None:
            doc[section].pop(leaf, None)
        else:
            doc[section][leaf] = value
    return doc


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def one(o: dict[str, Any], doc: dict[str, Any] | None = None, within_hours: int = 72) -> Any:
    [m] = match_offers(doc or profile(), [o], NOW, within_hours)
    return m


OFFICE = [(d, "09:00", "17:00") for d in WEEKDAYS]
SHELTER = [(d, "20:00", "24:00") for d in ALL_DAYS] + [(d, "00:00", "08:00") for d in ALL_DAYS]
# Oxford is ~15.5 km from Bullingdon's gate: 30 minutes + ~31 minutes at 30 km/h.
OXFORD_TRAVEL = timedelta(minutes=30) + timedelta(
    hours=distance_km(
        PRISONS["BLI"].latitude,
        PRISONS["BLI"].longitude,
        LOCAL_AUTHORITIES[OXFORD].latitude,
        LOCAL_AUTHORITIES[OXFORD].longitude,
    )
    / 30
)


# --- named Friday-release scenarios ---------------------------------------------------

SCENARIOS: list[tuple[str, dict[str, Any], dict[str, Any], datetime | None, str]] = [
    (
        "evening shelter in Reading opens at 20:00 the same evening",
        offer(weekly=SHELTER, locations=[town(READING)]),
        {},
        utc(2026, 11, 27, 20, 0),
        "Open Friday 20:00, the day you are released",
    ),
    (
        "office closing 15:45 for a 15:30 release an hour away: Monday, not 'open when released'",
        offer(weekly=[(d, "09:00", "15:45") for d in WEEKDAYS], locations=[town(OXFORD)]),
        {},
        utc(2026, 11, 30, 9, 0),
        "Open Monday 09:00, 3 days after you are released",
    ),
    (
        "office open until 18:00, an hour away: open when he gets there",
        offer(weekly=[(d, "09:00", "18:00") for d in WEEKDAYS], locations=[town(OXFORD)]),
        {},
        utc(2026, 11, 27, 15, 30) + OXFORD_TRAVEL,
        "Open when you can get there, about 16:31 the day you are released",
    ),
    (
        "24-hour phone line: open at release",
        offer("health", always_open=True),
        {},
        utc(2026, 11, 27, 15, 30),
        "Open 24 hours",
    ),
    (
        "weekend phone line opens Saturday morning",
        offer("health", weekly=[("sat", "09:00", "21:00"), ("sun", "09:00", "21:00")]),
        {},
        utc(2026, 11, 28, 9, 0),
        "Open Saturday 09:00, the day after you are released",
    ),
    (
        "phone line closing 15:50: 20 minutes left is not enough",
        offer("health", weekly=[(d, "09:00", "15:50") for d in WEEKDAYS]),
        {},
        utc(2026, 11, 30, 9, 0),
        "Open Monday 09:00, 3 days after you are released",
    ),
    (
        "Monday-only office",
        offer(weekly=[("mon", "09:00", "17:00")], locations=[town(READING)]),
        {},
        utc(2026, 11, 30, 9, 0),
        "Open Monday 09:00, 3 days after you are released",
    ),
    (
        "Christmas Eve release: 29 minutes left, then Christmas and the Boxing Day substitute",
        offer(weekly=OFFICE, locations=[town(OXFORD)]),
        {"release__expected_at": "2026-12-24T15:30:00Z"},
        utc(2026, 12, 29, 9, 0),
        "Closed on the bank holiday, Friday 25 December (Christmas Day)",
    ),
    (
        "Christmas Eve release: a service open on bank holidays opens Christmas morning",
        offer(weekly=OFFICE, bank_holidays=True, locations=[town(OXFORD)]),
        {"release__expected_at": "2026-12-24T16:00:00Z"},
        utc(2026, 12, 25, 9, 0),
        "Open Friday 09:00, the day after you are released",
    ),
    (
        "Easter: Maundy Thursday release, Good Friday and Easter Monday closed (BST)",
        offer("health", weekly=OFFICE),
        {"release__expected_at": "2026-04-02T16:00:00Z"},
        utc(2026, 4, 7, 8, 0),
        "Closed on the bank holiday, Friday 3 April (Good Friday)",
    ),
    (
        "closure over the weekend: reopens Tuesday",
        offer(
            weekly=OFFICE,
            locations=[town(READING)],
            closures=[("2026-11-27", "2026-11-30", "Staff training")],
        ),
        {},
        utc(2026, 12, 1, 9, 0),
        "Closed 27 November to 30 November: Staff training",
    ),
    (
        "spring clock change: Friday release, Monday 09:00 is in BST",
        offer("health", weekly=[("mon", "09:00", "17:00")]),
        {"release__expected_at": "2026-03-27T15:30:00Z"},
        utc(2026, 3, 30, 8, 0),
        "Open Monday 09:00, 3 days after you are released",
    ),
    (
        "spring clock change: a line from 01:00 opens when the clock jumps to 02:00",
        offer("health", weekly=[("sun", "01:00", "03:00")]),
        {"release__expected_at": "2026-03-27T15:30:00Z"},
        utc(2026, 3, 29, 1, 0),
        "Open Sunday 02:00, 2 days after you are released",
    ),
    (
        "autumn clock change: Friday release in BST, Monday 09:00 is in GMT",
        offer("health", weekly=[("mon", "09:00", "17:00")]),
        {"release__expected_at": "2026-10-23T14:30:00Z"},
        utc(2026, 10, 26, 9, 0),
        "Open Monday 09:00, 3 days after you are released",
    ),
]


@pytest.mark.parametrize(
    ("name", "o", "overrides", "expected", "reason"), SCENARIOS, ids=[s[0] for s in SCENARIOS]
)
def test_friday_release_scenarios(
    name: str, o: dict[str, Any], overrides: dict[str, Any], expected: datetime, reason: str
) -> None:
    m = one(o, profile(**overrides))
    assert m.next_open_at == expected, name
    assert reason in m.reasons, (name, m.reasons)
    assert "Open when you are released" not in m.reasons or m.next_open_at == m.arrival_at


def test_monday_office_is_not_soon_in_a_48_hour_window() -> None:
    monday = offer(weekly=[("mon", "09:00", "17:00")], id="monday")
    line = offer("wellbeing", always_open=True, id="line")
    ranked = match_offers(profile(), [monday, line], NOW, within_hours=48)
    # Soon (within the window) comes before any need: the line first.
    assert [m.offer["id"] for m in ranked] == ["line", "monday"]
    assert [m.soon for m in ranked] == [True, False]
    ranked = match_offers(profile(), [monday, line], NOW, within_hours=72)
    assert [m.offer["id"] for m in ranked] == ["monday", "line"]


def test_the_evening_shelter_comes_first_for_high_accommodation_need() -> None:
    """The issue: the shelter came sixth behind services opening on Monday elsewhere."""
    shelter = offer(weekly=SHELTER, locations=[town(READING)], title="Night shelter", id="s")
    others = [
        offer("accommodation", weekly=OFFICE, locations=[town(OXFORD)], title="Housing office"),
        offer("accommodation", weekly=[("mon", "09:00", "17:00")], locations=[town(SLOUGH)]),
        offer("education_work", always_open=True, title="Jobs line"),
        offer("practical", weekly=OFFICE, locations=[town(READING)], title="Practical help"),
        offer("health", weekly=OFFICE, title="Health line"),
    ]
    ranked = match_offers(profile(), [*others, shelter], NOW)
    assert ranked[0].offer["id"] == "s"
    assert ranked[0].reasons[:2] == [
        "Matches your high need: accommodation",
        "Open Friday 20:00, the day you are released",
    ]


def test_meets_at_the_gate_only_at_the_leavers_prison_and_when_open_at_release() -> None:
    bronzefield = offer("practical", weekly=OFFICE, gate=["BZI"])
    bullingdon = offer("practical", weekly=OFFICE, gate=["BLI"])
    closed = offer("practical", weekly=[("sat", "08:00", "16:00")], gate=["BLI"])
    by_id = {
        m.offer["id"]: m for m in match_offers(profile(), [bronzefield, bullingdon, closed], NOW)
    }
    assert "Meets you at the gate" in by_id[bullingdon["id"]].reasons
    assert "Meets you at the gate" not in by_id[bronzefield["id"]].reasons
    assert "Meets you at the gate" not in by_id[closed["id"]].reasons
    unknown = profile(release__establishment_code=None)
    assert "Meets you at the gate" not in one(bullingdon, unknown).reasons


def test_practical_and_wellbeing_name_no_need() -> None:
    for category in ("practical", "wellbeing"):
        m = one(offer(category, always_open=True))
        assert not any("need" in r for r in m.reasons), m.reasons
        assert m.need == 0


def test_local_connection_unknown_known_and_none() -> None:
    local = offer(areas=[OXFORD], local=True, weekly=OFFICE, title="Oxford lodgings")
    unknown = match_offers(profile(), [local], NOW)
    assert "You may need a local connection to Oxford" in unknown[0].reasons
    known = profile(release__local_connections=[OXFORD])
    assert "You have a local connection to Oxford" in one(local, known).reasons
    for connections in ([], [READING]):  # an empty list is known: none
        doc = profile(release__local_connections=connections)
        assert match_offers(doc, [local], NOW) == []
        [why] = explain_exclusions(doc, [local], NOW)
        assert why.reasons == ["It is only for people with a local connection to Oxford"]
    # The release area is not a connection: released to Reading, no Reading connection.
    reading_only = offer(areas=[READING], local=True, weekly=OFFICE)
    assert match_offers(profile(release__local_connections=[OXFORD]), [reading_only], NOW) == []


def test_eligibility_rules() -> None:
    woman = leaver_from_profile(
        profile(identity__gender="woman", identity__date_of_birth="2003-05-01"), NOW
    )
    man = leaver_from_profile(profile(), NOW)
    no_dob = leaver_from_profile(profile(identity__date_of_birth=None), NOW)
    assert woman.cohorts == {"women", "young_adult", "short_sentence"}
    assert ineligibility(woman, offer(genders=["woman"])) is None
    assert ineligibility(man, offer(genders=["woman"])) == "gender"
    assert ineligibility(woman, offer(min_age=26)) == "age"
    assert ineligibility(no_dob, offer(min_age=18)) == "age unknown"
    assert ineligibility(no_dob, offer()) is None
    assert ineligibility(man, offer(cohorts=["women"])) == "cohort"
    assert ineligibility(woman, offer(cohorts=["veteran"])) == "cohort"
    assert ineligibility(woman, offer(cohorts=["veteran", "young_adult"])) is None
    assert ineligibility(woman, offer(areas=[OXFORD], local=True)) is None  # unknown: listed


def test_explain_says_why_in_plain_words() -> None:
    doc = profile(release__local_connections=[])
    offers = [
        offer(genders=["woman"], title="Women's housing"),
        offer(min_age=18, max_age=25, title="Young adults' housing"),
        offer(cohorts=["veteran"], title="Veterans' housing"),
        offer("practical", genders=["woman"], title="Not a needed category"),
        offer(title="Eligible"),
    ]
    explained = {e.offer["title"]: e.reasons for e in explain_exclusions(doc, offers, NOW)}
    assert explained == {
        "Women's housing": ["It is for women only"],
        "Young adults' housing": ["It is for people aged 18 to 25"],
        "Veterans' housing": ["It is for veterans of the armed forces"],
    }
    many = [offer(genders=["woman"], title=f"T{i:02d}") for i in range(30)]
    assert len(explain_exclusions(doc, many, NOW)) == 20


def test_worker_gender_preference_orders_within_equal_openings() -> None:
    doc = profile(preferences__worker_gender="woman")
    a = offer(always_open=True, title="A", id="a")
    b = offer(always_open=True, workers=["woman"], title="B", id="b")
    ranked = match_offers(doc, [a, b], NOW)
    assert [m.offer["id"] for m in ranked] == ["b", "a"]
    assert "Can offer you a woman as your named worker" in ranked[0].reasons
    assert [m.offer["id"] for m in match_offers(profile(), [a, b], NOW)] == ["a", "b"]


def test_full_offers_rank_after_open_ones() -> None:
    full = offer(always_open=True, full=True, title="A", id="full")
    free = offer("wellbeing", always_open=True, title="Z", id="free")
    ranked = match_offers(profile(), [full, free], NOW)
    assert [m.offer["id"] for m in ranked] == ["free", "full"]


def test_unknown_release_uses_now() -> None:
    [m] = match_offers(profile(release__expected_at=None), [offer(always_open=True)], NOW)
    assert m.next_open_at == NOW


# --- properties ------------------------------------------------------------------------

CATEGORIES = [
    "accommodation",
    "education_work",
    "health",
    "finance_id",
    "drugs_alcohol",
    "wellbeing",
    "practical",
]
_times = st.sampled_from(["00:00", "08:00", "09:00", "10:00", "15:45", "16:00", "20:00"])
_ends = st.sampled_from(["08:30", "12:00", "15:50", "17:00", "20:00", "24:00"])
periods_strategy = st.lists(
    st.tuples(st.sampled_from(ALL_DAYS), _times, _ends).filter(lambda p: p[2] > p[1]),
    max_size=4,
)
closures_strategy = st.lists(
    st.tuples(
        st.sampled_from(["2026-11-27", "2026-11-28", "2026-12-24", "2027-01-01"]),
        st.sampled_from([0, 1, 3, 10]),
    ).map(
        lambda c: (
            c[0],
            (datetime.fromisoformat(c[0]) + timedelta(days=c[1])).date().isoformat(),
            "closed",
        )
    ),
    max_size=2,
)
offers_strategy = st.builds(
    offer,
    st.sampled_from(CATEGORIES),
    genders=st.lists(st.sampled_from(["woman", "man"]), max_size=1),
    cohorts=st.lists(st.sampled_from(["women", "short_sentence"]), max_size=1),
    areas=st.lists(st.sampled_from([READING, OXFORD, SLOUGH]), min_size=1, max_size=2, unique=True),
    local=st.booleans(),
    weekly=periods_strategy,
    always_open=st.booleans(),
    bank_holidays=st.booleans(),
    closures=closures_strategy,
    gate=st.lists(st.sampled_from(["BLI", "BZI"]), max_size=2, unique=True),
    workers=st.lists(st.sampled_from(["woman", "man"]), max_size=2, unique=True),
    locations=st.lists(st.sampled_from([town(READING), town(OXFORD), town(SLOUGH)]), max_size=2),
    full=st.booleans(),
    title=st.sampled_from(["A", "B", "C"]),
)
profiles_strategy = st.builds(
    profile,
    identity__gender=st.sampled_from(["woman", "man", None]),
    release__expected_at=st.sampled_from(
        [FRIDAY_RELEASE, "2026-12-24T15:30:00Z", "2026-03-27T15:30:00Z", "2026-10-23T14:30:00Z"]
    ),
    release__establishment_code=st.sampled_from(["BLI", "BZI", None]),
    release__area=st.sampled_from([READING, OXFORD, None]),
    release__local_connections=st.sampled_from([None, [], [OXFORD], [READING, SLOUGH]]),
    preferences__worker_gender=st.sampled_from(["woman", "man", "any", None]),
)


def _need_level(doc: dict[str, Any], category: str) -> int:
    if category not in PATHWAY_LABELS:
        return 0
    level = doc.get("needs", {}).get(category, {}).get("level", "none")
    return {"none": 0, "low": 1, "medium": 2, "high": 3}[level]


@settings(max_examples=150, deadline=None)
@given(profiles_strategy, st.lists(offers_strategy, max_size=8), st.integers(1, 336))
def test_order_is_the_section_4_order(
    doc: dict[str, Any], offers: list[dict[str, Any]], within_hours: int
) -> None:
    """For any set of offers, consecutive items obey the §4 order, recomputed here from
    the offers and the profile (not from matching's own key)."""
    ranked = match_offers(doc, offers, NOW, within_hours)
    release = leaver_from_profile(doc, NOW).release_at
    area = doc["release"].get("area")
    worker = doc.get("preferences", {}).get("worker_gender")

    def key(m: Any) -> tuple[Any, ...]:
        o = m.offer
        n = m.next_open_at
        soon = n is not None and release <= n <= release + timedelta(hours=within_hours)
        near = 0.0
        if area and o["locations"]:
            t = LOCAL_AUTHORITIES[area]
            near = min(
                distance_km(t.latitude, t.longitude, p["latitude"], p["longitude"])
                for p in o["locations"]
            )
        preferred = worker in ("woman", "man") and worker in o["delivery"]["worker_genders"]
        return (
            not soon,
            o["full"],
            -_need_level(doc, o["category"]),
            n or datetime.max.replace(tzinfo=UTC),
            not preferred,
            near,
            o["title"],
        )

    keys = [key(m) for m in ranked]
    assert keys == sorted(keys)
    scores = [m.score for m in ranked]
    assert scores == sorted(scores, reverse=True)  # the score never rises down the list


@settings(max_examples=150, deadline=None)
@given(profiles_strategy, st.lists(offers_strategy, max_size=8))
def test_no_reason_names_a_need_the_category_does_not_serve(
    doc: dict[str, Any], offers: list[dict[str, Any]]
) -> None:
    for m in match_offers(doc, offers, NOW):
        for reason in m.reasons:
            for pathway, label in PATHWAY_LABELS.items():
                if reason.startswith("Matches your") and reason.endswith(f"need: {label}"):
                    assert m.offer["category"] == pathway, reason
        if "Meets you at the gate" in m.reasons:
            assert (
                doc["release"].get("establishment_code")
                in m.offer["delivery"]["gate_establishments"]
            )


@settings(max_examples=150, deadline=None)
@given(profiles_strategy, st.lists(offers_strategy, max_size=8))
def test_an_ineligible_offer_never_appears(doc: dict[str, Any], offers: list[Any]) -> None:
    leaver = leaver_from_profile(doc, NOW)
    listed = {m.offer["id"] for m in match_offers(doc, offers, NOW)}
    explained = {e.offer["id"] for e in explain_exclusions(doc, offers, NOW)}
    for o in offers:
        assert (o["id"] in listed) == (ineligibility(leaver, o) is None)
        assert not (o["id"] in listed and o["id"] in explained)


@settings(max_examples=100, deadline=None)
@given(profiles_strategy, st.lists(offers_strategy, max_size=6))
def test_matching_reads_only_the_offer_parts_it_declares(
    doc: dict[str, Any], offers: list[Any]
) -> None:
    """offers.service ranks on OFFER_PARTS of the stored bodies (and full): nothing else."""
    parts = [{k: o[k] for k in ("id", "full", *OFFER_PARTS)} for o in offers]
    whole = [{**o, "description": "D", "capacity": 3, "contact": {}} for o in offers]

    def ranking(given: list[Any]) -> list[tuple[Any, ...]]:
        return [
            (m.offer["id"], m.score, m.reasons, m.next_open_at)
            for m in match_offers(doc, given, NOW)
        ]

    assert ranking(parts) == ranking(whole)
