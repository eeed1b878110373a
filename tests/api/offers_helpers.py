"""Shared builders for the offers tests."""

from __future__ import annotations

import copy
from typing import Any

READING = "E06000038"
OXFORD = "E07000178"
SLOUGH = "E06000039"

BASE: dict[str, Any] = {
    "title": "Night shelter beds",
    "summary": "Emergency beds for people with nowhere to stay tonight.",
    "description": "Walk in or call ahead. Hot meal and a shower.",
    "category": "accommodation",
    "tags": ["housing", "emergency"],
    "eligibility": {
        "genders": [],
        "min_age": 18,
        "max_age": None,
        "cohorts": [],
        "areas": [READING],
        "requires_local_connection": False,
    },
    "delivery": {"modes": ["in_person"], "meet_at_gate": False},
    "locations": [
        {
            "name": "Reading hub",
            "address": "1 Friar Street, Reading",
            "postcode": "RG1 1AA",
            "latitude": 51.4543,
            "longitude": -0.9781,
        }
    ],
    "schedule": {
        "always_open": False,
        "weekly": [
            {"day": d, "opens": "09:00", "closes": "17:00"} for d in ("mon", "tue", "wed", "thu")
        ]
        + [
            {"day": "fri", "opens": "09:00", "closes": "12:00"},
            {"day": "fri", "opens": "13:00", "closes": "17:00"},
        ],
    },
    "contact": {
        "phone": "0118 000 0000",
        "email": "help@example.org",
        "url": "https://example.org",
    },
    "required_fields": ["identity.given_name", "contact", "release.expected_at"],
    "capacity": 10,
    "status": "published",
    "valid_from": None,
    "valid_until": None,
}


def offer_body(**overrides: Any) -> dict[str, Any]:
    body = copy.deepcopy(BASE)
    for key, value in overrides.items():
        if "__" in key:
            section, leaf = key.split("__", 1)
            body[section][leaf] = value
        else:
            body[key] = value
    return body
