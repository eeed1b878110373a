"""The one cursor codec every list uses: round trips, and a 422 (never a 500) otherwise."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import ValidationFailed
from app.pagination import decode_cursor, encode_cursor, page_of


@settings(max_examples=200)
@given(
    at=st.datetimes(timezones=st.just(UTC)),
    ident=st.uuids(),
    seq=st.integers(min_value=0, max_value=2**63 - 1),
    distance=st.floats(allow_nan=False, allow_infinity=False),
)
def test_round_trip(at: datetime, ident: uuid.UUID, seq: int, distance: float) -> None:
    assert decode_cursor(encode_cursor(at, ident), datetime, uuid.UUID) == (at, ident)
    assert decode_cursor(encode_cursor(seq), int) == (seq,)
    assert decode_cursor(encode_cursor("d", distance, ident), "d", float, uuid.UUID) == (
        "d",
        distance,
        ident,
    )


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_anything_else_is_a_422_on_cursor(cursor: str) -> None:
    with pytest.raises(ValidationFailed) as caught:  # random text never names a real row
        decode_cursor(cursor, datetime, uuid.UUID)
    assert caught.value.errors == [{"loc": ["query", "cursor"], "msg": "The cursor is not valid"}]


@pytest.mark.parametrize(
    ("parts", "shape"),
    [
        ((), (int,)),
        (("2026-01-01T00:00:00",), (datetime,)),  # no offset
        (("-1",), (int,)),
        (("١",), (int,)),  # a digit, but not an ASCII one
        ((str(2**63),), (int,)),  # past a bigint
        (("nan",), (float,)),
        (("t", "x"), ("d", str)),  # another ordering's cursor
        (("not-a-uuid",), (uuid.UUID,)),
    ],
)
def test_wrong_shape_is_refused(parts: tuple[str, ...], shape: tuple[type | str, ...]) -> None:
    with pytest.raises(ValidationFailed):
        decode_cursor(encode_cursor(*parts), *shape)


@pytest.mark.parametrize("cursor", ["", "garbage!", "eyJ0IjoxfQ", "é", "W10", "WzEsMl0"])
def test_malformed_is_refused(cursor: str) -> None:
    with pytest.raises(ValidationFailed):
        decode_cursor(cursor, int, int)


def test_page_of_cuts_the_extra_row() -> None:
    assert page_of([1, 2, 3], 2, lambda n: (n,)) == ([1, 2], encode_cursor(2))
    assert page_of([1, 2], 2, lambda n: (n,)) == ([1, 2], None)
