"""The referral status machine: pure, no I/O.

    pending ──► accepted ──► in_progress ──► completed
       │            │              │
       ▼            ▼              ▼
    declined      closed         closed

A provider moves a referral only along those arrows (API.md §5). The leaver may withdraw a
referral that is still open (pending, accepted or in_progress); withdrawing revokes its
grant. Every other move, including "moving" to the state it is already in, is refused.
"""

from __future__ import annotations

from typing import Final

from app.vocabulary import OCCUPYING_REFERRAL_STATUSES, OPEN_REFERRAL_STATUSES, REFERRAL_STATUSES
from app.vocabulary import ReferralStatus as ReferralStatus

STATUSES: Final = REFERRAL_STATUSES

PROVIDER_MOVES: Final[dict[str, frozenset[str]]] = {
    "pending": frozenset({"accepted", "declined"}),
    "accepted": frozenset({"in_progress", "closed"}),
    "in_progress": frozenset({"completed", "closed"}),
}
OPEN: Final = OPEN_REFERRAL_STATUSES
# Referrals holding a place against an offer's capacity.
OCCUPYING: Final = OCCUPYING_REFERRAL_STATUSES


def provider_may_move(current: str, target: str) -> bool:
    return target in PROVIDER_MOVES.get(current, frozenset())


def leaver_may_withdraw(current: str) -> bool:
    return current in OPEN


def is_terminal(status: str) -> bool:
    return status not in OPEN
