"""Opening hours: is an offer open at an instant, and when does it next open? (pure, no I/O)

Opening hours are wall-clock ``HH:MM`` periods per weekday in ``Europe/London``. The one
rule, from which everything else follows:

    **An offer is open at instant t when a London wall clock, read at t, shows a weekday
    and time inside one of that day's periods** (``opens <= time < closes``).

What that means on the two clock-change Sundays (UK, e.g. 2026-03-29 and 2026-10-25):

* Spring forward (01:00 GMT → 02:00 BST): the clock never shows 01:00–01:59. A period that
  opens in that gap is open from the first time the clock shows a time inside it: a period
  ``01:30–03:00`` opens at 02:00 BST (01:00 UTC); a period that lies
  wholly inside the gap (``01:15–01:45``) does not open that day.
* Fall back (02:00 BST → 01:00 GMT): the clock shows 01:00–01:59 twice. A period covering
  that hour is open both times; ``00:00–01:30`` is open 00:00–01:30 BST, closed for half an
  hour, and open again 01:00–01:30 GMT.

This is exactly what the catalogue's ``open_at`` filter computes in SQL (London weekday and
minute of the instant against the periods), so the two never disagree.

``closes`` may be ``24:00`` (minute 1440): the end of the day. A night service open
20:00–08:00 is two periods, ``20:00–24:00`` and ``00:00–08:00`` of the next day.

Days that close an offer (API.md §4), by their London date: a **bank holiday in England
and Wales** closes an offer with weekly hours unless ``open_on_bank_holidays`` (an
always-open offer stays open); a **closure** ``{from, until}`` closes any offer on every
date from ``from`` to ``until``, both included. The bank holidays come from the
``holidays`` package (``GB``, subdivision ``ENG``: England and Wales share them), which is
maintained, computes any year (Easter, substitute days) and carries the one-off holidays
proclaimed so far; nothing here goes stale on a date.

**When it can be reached** (:func:`next_open_at`): the first instant at or after the
arrival at which the offer is open and stays open for at least 30 more minutes. Periods
that meet (``20:00–24:00`` then ``00:00–08:00``) are one stretch of opening.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

import holidays

from app.clock import LONDON as LONDON

DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True, slots=True)
class Period:
    """One opening period on one weekday: ``day`` 0 = Monday … 6 = Sunday; minutes of the
    wall-clock day, ``opens`` in [0, 1440), ``closes`` in (opens, 1440]."""

    day: int
    opens: int
    closes: int

    def __post_init__(self) -> None:
        if not (0 <= self.day <= 6):
            raise ValueError("day must be 0..6")
        if not (0 <= self.opens < self.closes <= MINUTES_PER_DAY):
            raise ValueError("a period must close after it opens, within the day")

    def covers(self, day: int, minute: int) -> bool:
        return self.day == day and self.opens <= minute < self.closes


@dataclass(frozen=True, slots=True)
class Closure:
    """Closed on every London date from ``starts`` to ``ends``, both included."""

    starts: date
    ends: date
    note: str = ""

    def covers(self, day: date) -> bool:
        return self.starts <= day <= self.ends


@dataclass(frozen=True, slots=True)
class Schedule:
    always_open: bool = False
    periods: tuple[Period, ...] = ()
    open_on_bank_holidays: bool = False
    closures: tuple[Closure, ...] = ()

    @classmethod
    def from_document(cls, doc: Mapping[str, Any] | None) -> Schedule:
        """From the API shape ``{"always_open", "weekly": [{"day", "opens", "closes"}],
        "open_on_bank_holidays", "closures": [{"from", "until", "note"}]}``."""
        if not doc:
            return cls()
        periods = tuple(
            Period(DAYS.index(p["day"]), parse_hhmm(p["opens"]), parse_hhmm(p["closes"]))
            for p in doc.get("weekly") or ()
        )
        closures = tuple(
            Closure(
                date.fromisoformat(str(c["from"])),
                date.fromisoformat(str(c["until"])),
                str(c.get("note") or ""),
            )
            for c in doc.get("closures") or ()
        )
        return cls(
            bool(doc.get("always_open")),
            periods,
            bool(doc.get("open_on_bank_holidays")),
            closures,
        )

    @property
    def never_open(self) -> bool:
        return not self.always_open and not self.periods

    def closed_on(self, day: date) -> bool:
        """Whether the whole London date ``day`` is closed (a closure, or a bank holiday
        for an offer with weekly hours that does not open on them)."""
        if any(c.covers(day) for c in self.closures):
            return True
        return not self.always_open and not self.open_on_bank_holidays and is_bank_holiday(day)


# England and Wales (the package's GB subdivision ENG): computed per year on first use.
_BANK_HOLIDAYS = holidays.country_holidays("GB", subdiv="ENG")


@lru_cache(maxsize=4096)
def bank_holiday_name(day: date) -> str | None:
    """The name of the bank holiday in England and Wales on ``day``, or None."""
    name = _BANK_HOLIDAYS.get(day)
    return str(name) if name else None


def is_bank_holiday(day: date) -> bool:
    return bank_holiday_name(day) is not None


def parse_hhmm(value: str) -> int:
    """``"HH:MM"`` → minutes since midnight; ``"24:00"`` → 1440."""
    hours, _, minutes = value.partition(":")
    total = int(hours) * 60 + int(minutes)
    if not (0 <= int(minutes) < 60 and 0 <= total <= MINUTES_PER_DAY):
        raise ValueError("not a time of day")
    return total


def format_hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("instants must be timezone-aware")
    return instant.astimezone(UTC)


def london_day_minute(instant: datetime) -> tuple[int, int]:
    """The weekday (0 = Monday) and minute of the day a London wall clock shows at ``instant``."""
    local = _aware(instant).astimezone(LONDON)
    return local.weekday(), local.hour * 60 + local.minute


def is_open(schedule: Schedule, instant: datetime) -> bool:
    """Whether the offer is open at ``instant`` (an aware datetime): its London date is not
    closed (:meth:`Schedule.closed_on`) and the wall clock is inside a period."""
    local = _aware(instant).astimezone(LONDON)
    if (schedule.closures or not schedule.always_open) and schedule.closed_on(local.date()):
        return False
    if schedule.always_open:
        return True
    day, minute = local.weekday(), local.hour * 60 + local.minute
    return any(p.covers(day, minute) for p in schedule.periods)


@lru_cache(maxsize=65536)
def _wall_instants_cached(day: date, minute: int) -> tuple[datetime, ...]:
    return tuple(_wall_instants(day, minute))


def _wall_instants(day: date, minute: int) -> Iterator[datetime]:
    """Every UTC instant at which a London clock shows ``day`` at ``minute`` (0, 1 or 2 of
    them), plus, for a time skipped by spring-forward, the instant the clock jumps past it."""
    if minute >= MINUTES_PER_DAY:
        return
    wall = datetime.combine(day, time(minute // 60, minute % 60))
    seen: set[datetime] = set()
    for fold in (0, 1):
        instant = wall.replace(tzinfo=LONDON, fold=fold).astimezone(UTC)
        if instant in seen:
            continue
        seen.add(instant)
        back = instant.astimezone(LONDON).replace(tzinfo=None)
        if back == wall:
            yield instant
        else:
            # ``wall`` does not exist (spring-forward gap): the clock jumps over it. The
            # first instant after the jump is the transition itself.
            yield _transition_within(day)


def _transition_within(day: date) -> datetime:
    """The UTC instant of the clock change on London day ``day`` (that day must have one)."""
    start = datetime.combine(day, time(0), tzinfo=LONDON).astimezone(UTC)
    lo, hi = start, start + timedelta(hours=26)
    offset_lo = lo.astimezone(LONDON).utcoffset()
    # Binary search to the minute: UK changes happen on the hour, any zone on a minute.
    while hi - lo > timedelta(minutes=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(second=0, microsecond=0)
        if mid <= lo:
            mid = lo + timedelta(minutes=1)
        if mid.astimezone(LONDON).utcoffset() == offset_lo:
            lo = mid
        else:
            hi = mid
    return hi


@lru_cache(maxsize=4096)
def _day_bounds(day: date) -> tuple[datetime, datetime, tuple[datetime, ...]]:
    """The UTC instants a London ``day`` starts and ends, and its clock change if any."""
    start = datetime.combine(day, time(0), tzinfo=LONDON).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=LONDON).astimezone(UTC)
    return start, end, tuple(_transitions(day))


def _transitions(day: date) -> list[datetime]:
    start = datetime.combine(day, time(0), tzinfo=LONDON)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=LONDON)
    if start.utcoffset() == end.utcoffset():
        return []
    return [_transition_within(day)]


def next_opening(schedule: Schedule, instant: datetime) -> datetime | None:
    """The first instant at or after ``instant`` at which the offer is open, in UTC
    (:func:`next_open_at` with no time required left); ``None`` when it has no hours."""
    return next_open_at(schedule, instant, stay=timedelta(0))


# --- when it can be reached ----------------------------------------------------------

# An opening counts only with this long left before it closes (API.md §4).
MIN_STAY = timedelta(minutes=30)
# How many London days next_open_at looks through: two weeks (a weekly schedule, a
# bank-holiday weekend and a clock change), plus the days of any closures.
_BASE_HORIZON_DAYS = 15
_MAX_HORIZON_DAYS = 800


def _segments(schedule: Schedule, day: date) -> Iterator[tuple[datetime, datetime, bool]]:
    """The London ``day`` cut into stretches ``(start, end, open)`` in which being open does
    not change: cut wherever a period opens or closes and at a clock change."""
    start, end, changes = _day_bounds(day)
    if schedule.closed_on(day):
        yield start, end, False
        return
    if schedule.always_open:
        yield start, end, True
        return
    weekday = day.weekday()
    todays = [p for p in schedule.periods if p.day == weekday]
    if not todays:
        yield start, end, False
        return
    cuts = {start, *changes}
    for period in todays:
        cuts.update(_wall_instants_cached(day, period.opens))
        cuts.update(_wall_instants_cached(day, period.closes))
    points = sorted(c for c in cuts if start <= c < end)
    for i, point in enumerate(points):
        following = points[i + 1] if i + 1 < len(points) else end
        # The day is not closed: open when the wall clock is inside one of its periods
        # (the rule of is_open, without checking the day again).
        local = point.astimezone(LONDON)
        minute = local.hour * 60 + local.minute
        yield point, following, any(p.opens <= minute < p.closes for p in todays)


def next_open_at(
    schedule: Schedule, arrival: datetime, *, stay: timedelta = MIN_STAY
) -> datetime | None:
    """The first instant at or after ``arrival`` at which the offer is open and stays open
    for at least ``stay`` more (API.md §4), in UTC; None when there is none in the horizon
    (no hours at all, or closed for longer than it looks)."""
    at = _aware(arrival)
    if schedule.never_open:
        return None
    first = at.astimezone(LONDON).date()
    horizon = _BASE_HORIZON_DAYS + sum(
        (c.ends - max(c.starts, first)).days + 1 for c in schedule.closures if c.ends >= first
    )
    run_start: datetime | None = None
    run_end: datetime | None = None
    for offset in range(min(horizon, _MAX_HORIZON_DAYS)):
        for start, end, open_ in _segments(schedule, first + timedelta(days=offset)):
            if end <= at:
                continue
            if not open_:
                run_start = None
                continue
            if run_start is None or start != run_end:
                run_start = start
            run_end = end
            begin = max(run_start, at)
            if run_end - begin >= stay:
                return begin
    return None


def week_minute(instant: datetime) -> int:
    """Minutes into the London wall-clock week (0 = Monday 00:00) at ``instant``."""
    day, minute = london_day_minute(instant)
    return day * MINUTES_PER_DAY + minute


def week_spans(start: datetime, end: datetime) -> list[tuple[int, int]]:
    """Half-open spans of week minutes covering every wall-clock minute a London clock
    shows from ``start`` to ``end`` (a superset: it may add the hour skipped in spring).
    An offer whose weekly hours meet none of them is not open at any instant between."""
    local_start = _aware(start).astimezone(LONDON)
    local_end = _aware(end).astimezone(LONDON)
    floor = {"second": 0, "microsecond": 0, "tzinfo": None}
    wall = local_end.replace(**floor) - local_start.replace(**floor)  # type: ignore[arg-type]
    # When the clocks go back in between, the clock shows up to that much earlier than at
    # ``start`` (just after the change) and that much later than at ``end`` (just before).
    back = max(
        timedelta(0),
        (local_start.utcoffset() or timedelta(0)) - (local_end.utcoffset() or timedelta(0)),
    )
    back_minutes = int(back.total_seconds() // 60)
    length = int(wall.total_seconds() // 60) + 1 + 2 * back_minutes
    week = 7 * MINUTES_PER_DAY
    if length >= week or end - start >= timedelta(days=7):
        return [(0, week)]
    lo = (week_minute(start) - back_minutes) % week
    hi = lo + max(1, length)
    if hi <= week:
        return [(lo, hi)]
    return [(0, hi - week), (lo, week)]
