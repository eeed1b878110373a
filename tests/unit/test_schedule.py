"""Opening hours: is_open / next_opening, including both UK clock changes of 2026."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.offers.schedule import DAYS, Period, Schedule, is_open, next_opening

SPRING = datetime(2026, 3, 29, tzinfo=UTC)  # 01:00 GMT -> 02:00 BST
AUTUMN = datetime(2026, 10, 25, tzinfo=UTC)  # 02:00 BST -> 01:00 GMT


def weekly(*periods: tuple[str, str, str], always_open: bool = False) -> Schedule:
    return Schedule.from_document(
        {
            "always_open": always_open,
            "weekly": [{"day": d, "opens": o, "closes": c} for d, o, c in periods],
        }
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


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
