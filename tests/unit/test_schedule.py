"""Opening hours: is_open / next_opening, including both UK clock changes of 2026."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.offers.schedule import DAYS, LONDON, Period, Schedule, is_open, next_opening

SPRING = datetime(2026, 3, 29, tzinfo=UTC)  # 01:00 GMT -> 02:00 BST
AUTUMN = datetime(2026, 10, 25, tzinfo=UTC)  # 02:00 BST -> 01:00 GMT


def weekly(*periods: tuple[str, str, str], always_open: bool = False) -> Schedule:
    return Schedule.from_document(
        {
            "always_open": always_open,
            "weekly": [{"day": d, "opens": o, "closes": c} for d, o, c in periods],
        }
    )


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_office_hours_follow_bst_and_gmt() -> None:
    s = weekly(("mon", "09:00", "17:00"))
    # Summer: 09:00 BST is 08:00 UTC.
    assert is_open(s, utc(2026, 6, 1, 8, 0))
    assert not is_open(s, utc(2026, 6, 1, 16, 0))
    # Winter: 09:00 GMT is 09:00 UTC.
    assert not is_open(s, utc(2026, 11, 30, 8, 30))
    assert is_open(s, utc(2026, 11, 30, 16, 59))


def test_friday_afternoon_release_rolls_to_monday() -> None:
    s = weekly(*[(d, "09:00", "17:00") for d in ("mon", "tue", "wed", "thu", "fri")])
    assert next_opening(s, utc(2026, 11, 27, 15, 30)) == utc(2026, 11, 27, 15, 30)
    assert next_opening(s, utc(2026, 11, 27, 17, 0)) == utc(2026, 11, 30, 9, 0)


def test_spring_forward_period_opening_in_the_gap_opens_at_0200_bst() -> None:
    s = weekly(("sun", "01:30", "03:00"))
    assert next_opening(s, utc(2026, 3, 28, 12)) == utc(2026, 3, 29, 1, 0)  # 02:00 BST
    assert not is_open(s, utc(2026, 3, 29, 0, 59))  # 00:59 GMT
    assert is_open(s, utc(2026, 3, 29, 1, 0))
    assert not is_open(s, utc(2026, 3, 29, 2, 0))  # 03:00 BST


def test_spring_forward_period_wholly_in_the_gap_skips_to_next_week() -> None:
    s = weekly(("sun", "01:15", "01:45"))
    assert next_opening(s, SPRING) == utc(2026, 4, 5, 0, 15)  # next Sunday 01:15 BST


def test_fall_back_repeated_hour_is_open_both_times() -> None:
    s = weekly(("sun", "01:00", "02:00"))
    assert is_open(s, utc(2026, 10, 25, 0, 30))  # 01:30 BST
    assert is_open(s, utc(2026, 10, 25, 1, 30))  # 01:30 GMT
    assert not is_open(s, utc(2026, 10, 25, 2, 0))  # 02:00 GMT


def test_fall_back_period_reopens_when_the_clock_goes_back() -> None:
    s = weekly(("sun", "00:00", "01:30"))
    assert is_open(s, utc(2026, 10, 24, 23, 30))  # 00:30 BST
    assert not is_open(s, utc(2026, 10, 25, 0, 45))  # 01:45 BST
    assert next_opening(s, utc(2026, 10, 25, 0, 45)) == utc(2026, 10, 25, 1, 0)  # 01:00 GMT


def test_always_open_and_never_open() -> None:
    t = utc(2026, 3, 29, 1, 17, 5)
    assert next_opening(Schedule(always_open=True), t) == t
    assert next_opening(Schedule(), t) is None


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        is_open(Schedule(always_open=True), datetime(2026, 1, 1))


def test_periods_refuse_closing_before_opening() -> None:
    with pytest.raises(ValueError, match="close after"):
        Period(0, 600, 600)


# --- properties ------------------------------------------------------------------------

minutes = st.integers(0, 24 * 60 - 1)


@st.composite
def periods(draw: st.DrawFn) -> tuple[str, str, str]:
    opens = draw(minutes)
    closes = draw(st.integers(opens + 1, 24 * 60))
    return (draw(st.sampled_from(DAYS)), _hhmm(opens), _hhmm(closes))


def _hhmm(m: int) -> str:
    return f"{m // 60:02d}:{m % 60:02d}"


# Instants around both 2026 clock-change weekends and at ordinary times.
instants = st.one_of(
    st.integers(-3 * 24 * 60, 3 * 24 * 60).map(lambda m: SPRING + timedelta(minutes=m)),
    st.integers(-3 * 24 * 60, 3 * 24 * 60).map(lambda m: AUTUMN + timedelta(minutes=m)),
    st.integers(0, 365 * 24 * 60).map(lambda m: utc(2026, 1, 1) + timedelta(minutes=m)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(periods(), min_size=1, max_size=6), instants)
def test_next_opening_is_the_first_open_instant(
    ps: list[tuple[str, str, str]], t: datetime
) -> None:
    s = weekly(*ps)
    n = next_opening(s, t)
    assert n is not None  # at least one period that exists every week (or next week)
    assert n >= t
    assert is_open(s, n)
    # No opening strictly between t and n: every minute boundary (sampled) is closed.
    span = int((n - t).total_seconds() // 60)
    step = max(1, span // 400)
    for m in range(0, span, step):
        assert not is_open(s, t + timedelta(minutes=m)), (t, n, m)


@settings(max_examples=200, deadline=None)
@given(st.lists(periods(), max_size=6), instants)
def test_always_open_is_open_now(ps: list[tuple[str, str, str]], t: datetime) -> None:
    s = weekly(*ps, always_open=True)
    assert is_open(s, t)
    assert next_opening(s, t) == t


@settings(max_examples=200, deadline=None)
@given(st.lists(periods(), min_size=1, max_size=6), instants)
def test_open_instants_are_their_own_next_opening(
    ps: list[tuple[str, str, str]], t: datetime
) -> None:
    s = weekly(*ps)
    if is_open(s, t):
        assert next_opening(s, t) == t


# --- next_open_at: arrival, 30 minutes left, bank holidays and closures (API.md §4) -------

from datetime import date  # noqa: E402

from app.offers.schedule import (  # noqa: E402
    MIN_STAY,
    bank_holiday_name,
    is_bank_holiday,
    next_open_at,
    week_minute,
    week_spans,
)

# Around Christmas and Easter 2026 too, where bank holidays close weekly hours.
arrivals = st.one_of(
    instants,
    st.integers(-3 * 24 * 60, 6 * 24 * 60).map(lambda m: utc(2026, 12, 24) + timedelta(minutes=m)),
    st.integers(-3 * 24 * 60, 6 * 24 * 60).map(lambda m: utc(2026, 4, 2) + timedelta(minutes=m)),
    st.integers(0, 30 * 24 * 60 * 60).map(lambda s: utc(2026, 11, 20) + timedelta(seconds=s)),
)
closure_lists = st.lists(
    st.tuples(st.integers(-5, 40), st.integers(0, 6)).map(
        lambda c: {
            "from": (date(2026, 11, 20) + timedelta(days=c[0])).isoformat(),
            "until": (date(2026, 11, 20) + timedelta(days=c[0] + c[1])).isoformat(),
        }
    ),
    max_size=3,
)


def full_schedule(
    ps: list[tuple[str, str, str]], always: bool, holidays_open: bool, closures: list[Any]
) -> Schedule:
    return Schedule.from_document(
        {
            "always_open": always,
            "weekly": [{"day": d, "opens": o, "closes": c} for d, o, c in ps],
            "open_on_bank_holidays": holidays_open,
            "closures": closures,
        }
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(periods(), max_size=6),
    st.booleans(),
    st.booleans(),
    closure_lists,
    arrivals,
)
# Two periods two minutes apart on the morning after the clocks go forward.
@example([("mon", "01:03", "01:32"), ("mon", "01:34", "09:14")], False, False, [], SPRING)
def test_next_open_at_properties(
    ps: list[tuple[str, str, str]],
    always: bool,
    holidays_open: bool,
    closures: list[Any],
    arrival: datetime,
) -> None:
    s = full_schedule(ps, always and not ps, holidays_open, closures)
    n = next_open_at(s, arrival)
    if n is None:
        return
    # Never before arrival; open with 30 minutes left (every minute of them).
    assert n >= arrival
    for m in range(0, 30):
        instant = n + timedelta(minutes=m)
        assert is_open(s, instant), (n, m)
        day = instant.astimezone(LONDON).date()
        # Never in a closure, nor on a bank holiday unless allowed (or always open).
        assert not any(
            date.fromisoformat(c["from"]) <= day <= date.fromisoformat(c["until"]) for c in closures
        )
        if is_bank_holiday(day):
            assert s.always_open or s.open_on_bank_holidays
    assert is_open(s, n + MIN_STAY - timedelta(seconds=1))
    # The first such instant: no minute between arrival and n starts 30 open minutes.
    span = int((n - arrival).total_seconds() // 60)
    step = max(1, span // 200)
    for m in range(0, span, step):
        t = arrival + timedelta(minutes=m)
        assert not (
            is_open(s, t)
            and is_open(s, t + timedelta(minutes=29, seconds=59))
            # Every minute: periods are whole minutes, so a gap of one is seen (a 5-minute
            # sample missed a two-minute gap between 01:32 and 01:34).
            and all(is_open(s, t + timedelta(minutes=k)) for k in range(0, 30))
        ), (arrival, n, m)


@settings(max_examples=200, deadline=None)
@given(st.lists(periods(), min_size=1, max_size=6), instants)
def test_always_open_offers_are_reached_on_arrival(
    ps: list[tuple[str, str, str]], t: datetime
) -> None:
    assert next_open_at(weekly(*ps, always_open=True), t) == t


def test_bank_holidays_of_england_and_wales() -> None:
    assert bank_holiday_name(date(2026, 12, 25)) == "Christmas Day"
    assert is_bank_holiday(date(2026, 12, 28))  # Boxing Day falls on a Saturday: substitute
    assert is_bank_holiday(date(2026, 4, 3))
    assert is_bank_holiday(date(2026, 4, 6))
    assert not is_bank_holiday(date(2026, 12, 24))
    assert not is_bank_holiday(date(2026, 3, 17))  # St Patrick's Day: Northern Ireland only
    # The package computes any year: no list that runs out.
    assert is_bank_holiday(date(2099, 12, 25))


def test_a_night_shelter_is_one_stretch_across_midnight() -> None:
    s = weekly(("fri", "20:00", "24:00"), ("sat", "00:00", "08:00"))
    assert next_open_at(s, utc(2026, 11, 27, 23, 45)) == utc(2026, 11, 27, 23, 45)
    assert next_open_at(s, utc(2026, 11, 28, 7, 45)) == utc(2026, 12, 4, 20, 0)


@settings(max_examples=300, deadline=None)
@given(instants, st.integers(1, 400))
def test_week_spans_cover_every_minute_between(start: datetime, hours: int) -> None:
    end = start + timedelta(hours=hours)
    spans = week_spans(start, end)
    for m in [*range(0, hours * 60 + 1, 7), hours * 60]:
        minute = week_minute(start + timedelta(minutes=m))
        assert any(lo <= minute < hi for lo, hi in spans)
