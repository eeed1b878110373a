"""The benchmark's generator writes rows exactly as the service would (no drift)."""

from __future__ import annotations

import json
import uuid

from app.offers.schemas import OfferCreate
from app.offers.service import _columns
from bench.catalogue import OFFER_COLUMNS, _offer_rows


def test_generated_rows_match_the_service_columns() -> None:
    offers, locations = _offer_rows(200, uuid.uuid4())
    assert len(offers) == 200
    assert len(locations) >= 200
    for record in offers:
        row = dict(zip(OFFER_COLUMNS, record, strict=True))
        body = OfferCreate.model_validate({**json.loads(row["body"]), "status": row["status"]})
        expected = _columns(body)
        for column in (
            "category",
            "area_keys",
            "category_area_keys",
            "cohort_keys",
            "gender_keys",
            "always_open",
            "meet_at_gate",
        ):
            assert row[column] == expected[column], column
        assert [(r.lower, r.upper) for r in row["week_hours"]] == [
            (r.lower, r.upper) for r in expected["week_hours"]
        ]
