"""London time, the only local time Onward speaks (pure, no I/O).

Release days, referral dates and opening hours are all read on a London wall clock
(GMT in winter, BST in summer); every stored instant is UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def london_today(now: datetime | None = None) -> date:
    """The date a London wall clock shows at ``now`` (default: this instant)."""
    return (now or datetime.now(UTC)).astimezone(LONDON).date()
