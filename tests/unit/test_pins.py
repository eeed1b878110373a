"""PIN rules and hashing (the leaver's PIN, API.md §1)."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.auth.pins import (
    COMMON_PINS,
    DUMMY_HASH,
    hash_pin,
    is_trivial,
    pin_problem,
    validate_pin,
    verify_pin,
)
from app.errors import ValidationFailed

digits = st.text(alphabet="0123456789", min_size=6, max_size=12)


@pytest.mark.parametrize(
    "pin",
    ["12345", "1234567890123", "12345a", "١٢٣٤٥٦٧", " 482916", "482916\n", "", "482 916"],
)
def test_wrong_shape_is_refused(pin: str) -> None:
    assert pin_problem(pin) == "The PIN must be 6 to 12 digits"


@pytest.mark.parametrize(
    "pin", ["000000", "123456", "654321", "890123", "210987", "121212", "111111111111"]
)
def test_easy_pins_are_refused(pin: str) -> None:
    assert pin_problem(pin) is not None


@given(digits)
@settings(max_examples=200)
def test_rules_never_echo_the_pin(pin: str) -> None:
    reason = pin_problem(pin)
    if reason is None:
        assert not is_trivial(pin)
        assert pin not in COMMON_PINS
    else:
        assert pin not in reason
        with pytest.raises(ValidationFailed) as info:
            validate_pin(pin)
        assert pin not in str(info.value.errors)
        assert info.value.errors == [{"loc": ["body", "pin"], "msg": reason}]


@given(digits)
@settings(max_examples=200)
def test_a_run_or_repeat_is_always_trivial(pin: str) -> None:
    up = "".join(str((int(pin[0]) + i) % 10) for i in range(len(pin)))
    down = "".join(str((int(pin[0]) - i) % 10) for i in range(len(pin)))
    assert is_trivial(up)
    assert is_trivial(down)
    assert is_trivial(pin[0] * len(pin))


async def test_hash_and_verify() -> None:
    stored = await hash_pin("482916")
    assert stored.startswith("$argon2id$")
    assert "482916" not in stored
    assert await verify_pin(stored, "482916")
    assert not await verify_pin(stored, "482917")
    assert not await verify_pin("not-a-hash", "482916")
    assert not await verify_pin(DUMMY_HASH, "482916")
    assert await hash_pin("482916") != stored  # salted


async def test_verify_costs_about_the_same_for_the_dummy_hash() -> None:
    stored = await hash_pin("482916")
    t0 = time.perf_counter()
    await verify_pin(stored, "000001")
    t1 = time.perf_counter()
    await verify_pin(DUMMY_HASH, "000001")
    t2 = time.perf_counter()
    # Same parameters, so the same order of work (loose bounds: a shared, busy machine).
    assert 0.1 < (t2 - t1) / (t1 - t0) < 10
