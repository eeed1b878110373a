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
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
# How far ahead next_opening looks: a weekly schedule repeats within 7 days; two spare days
# cover a clock change and a start late on the day before.
_HORIZON_DAYS = 9


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
class Schedule:
    always_open: bool = False
    periods: tuple[Period, ...] = ()

    @classmethod
    def from_document(cls, doc: Mapping[str, Any] | None) -> Schedule:
        """From the API shape ``{"always_open", "weekly": [{"day", "opens", "closes"}]}``."""
        if not doc:
            return cls()
        periods = tuple(
            Period(DAYS.index(p["day"]), parse_hhmm(p["opens"]), parse_hhmm(p["closes"]))
            for p in doc.get("weekly") or ()
        )
        return cls(bool(doc.get("always_open")), periods)

    @property
    def never_open(self) -> bool:
        return not self.always_open and not self.periods


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
    """Whether the offer is open at ``instant`` (an aware datetime)."""
    day, minute = london_day_minute(instant)
    if schedule.always_open:
        return True
    return any(p.covers(day, minute) for p in schedule.periods)


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


def _transitions(day: date) -> list[datetime]:
    start = datetime.combine(day, time(0), tzinfo=LONDON)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=LONDON)
    if start.utcoffset() == end.utcoffset():
        return []
    return [_transition_within(day)]


def next_opening(schedule: Schedule, instant: datetime) -> datetime | None:
    """The first instant at or after ``instant`` at which the offer is open, in UTC.

    ``instant`` itself when it is open then (always, for an always-open offer); ``None``
    when the schedule has no periods at all.
    """
    at = _aware(instant)
    if is_open(schedule, at):
        return at
    if not schedule.periods:
        return None
    first_day = at.astimezone(LONDON).date()
    best: datetime | None = None
    for offset in range(_HORIZON_DAYS):
        day = first_day + timedelta(days=offset)
        weekday = day.weekday()
        # Where an open interval can start: the clock reaching a period's opening time, or
        # the clock jumping (either way) into a period at a change.
        candidates: list[datetime] = list(_transitions(day))
        for period in schedule.periods:
            if period.day == weekday:
                candidates.extend(_wall_instants(day, period.opens))
        for candidate in candidates:
            if candidate >= at and (best is None or candidate < best):
                if is_open(schedule, candidate):
                    best = candidate
        if best is not None and best < datetime.combine(
            day + timedelta(days=1), time(0), tzinfo=LONDON
        ).astimezone(UTC):
            return best
    return best
