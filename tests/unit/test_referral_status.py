"""Every pair of states, against the table in API.md §5."""

from __future__ import annotations

import itertools

import pytest

from app.referrals.status import (
    STATUSES,
    is_terminal,
    leaver_may_withdraw,
    provider_may_move,
)

ALLOWED = {
    ("pending", "accepted"),
    ("pending", "declined"),
    ("accepted", "in_progress"),
    ("accepted", "closed"),
    ("in_progress", "completed"),
    ("in_progress", "closed"),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(STATUSES, STATUSES)))
def test_provider_moves_match_the_contract(current: str, target: str) -> None:
    assert provider_may_move(current, target) is ((current, target) in ALLOWED)


@pytest.mark.parametrize("current", STATUSES)
def test_withdraw_only_while_open(current: str) -> None:
    assert leaver_may_withdraw(current) is (current in {"pending", "accepted", "in_progress"})
    assert is_terminal(current) is not leaver_may_withdraw(current)


def test_no_move_out_of_a_terminal_state() -> None:
    for current in STATUSES:
        if is_terminal(current):
            assert not any(provider_may_move(current, t) for t in STATUSES)
