"""Helpers for the profile and consent tests: a kiosk, profiles, grants, sentinels."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support import Actor, Actors

PIN = "246810"


def full_document(tag: str = "") -> dict[str, Any]:
    """A profile with every leaf filled; each string holds a sentinel naming its leaf."""
    s = f"SENTINEL{tag}"
    need = {"level": "high", "notes": f"{s}-needs"}
    return {
        "identity": {
            "given_name": f"{s}-given",
            "family_name": f"{s}-family",
            "preferred_name": f"{s}-preferred",
            "date_of_birth": "1990-04-02",
            "pronouns": f"{s}-pronouns",
            "gender": "woman",
        },
        "contact": {
            "phone": "07700 900123",
            "email": f"{s.lower()}@example.org",
            "address": f"{s}-address",
            "preferred_method": "phone",
            "best_times": f"{s}-best-times",
        },
        "release": {
            "establishment": f"{s}-HMP Bronzefield",
            "expected_at": "2026-12-04T09:00:00+00:00",
            "area": "E06000038",
            "on_licence": True,
            "sentence_months": 18,
        },
        "needs": {
            "accommodation": {"level": "high", "notes": f"{s}-accommodation"},
            "attitudes_behaviour": {"level": "low", "notes": f"{s}-attitudes"},
            "children_families": {"level": "medium", "notes": f"{s}-children"},
            "drugs_alcohol": {"level": "high", "notes": f"{s}-drugs"},
            "education_work": dict(need),
            "finance_id": {"level": "none", "notes": f"{s}-finance"},
            "health": {"level": "medium", "notes": f"{s}-health"},
        },
        "preferences": {
            "language": "en-GB",
            "interpreter": False,
            "accessibility": f"{s}-accessibility",
            "worker_gender": "woman",
        },
        "story": {"summary": f"{s}-story"},
        "offence": {"summary": f"{s}-offence-summary", "category": f"{s}-offence-category"},
        "plan": {
            "goals": [
                {
                    "title": f"{s}-goal",
                    "category": "accommodation",
                    "status": "in_progress",
                    "target_date": "2027-01-31",
                }
            ]
        },
    }


@dataclass
class Leaver:
    id: str
    reference: str
    headers: dict[str, str]


async def kiosk(actors: Actors) -> Actor:
    return await actors.client("profiles:create", kind="establishment")


async def make_leaver(
    client: httpx.AsyncClient,
    actors: Actors,
    data: dict[str, Any] | None = None,
    kiosk_actor: Actor | None = None,
) -> Leaver:
    kiosk_actor = kiosk_actor or await kiosk(actors)
    body = {"pin": PIN, "data": full_document() if data is None else data}
    response = await client.post("/v1/profiles", json=body, headers=kiosk_actor.headers)
    assert response.status_code == 201, response.text
    created = response.json()
    return Leaver(created["id"], created["reference"], actors.leaver_headers(created["id"]))


async def grant(
    client: httpx.AsyncClient,
    leaver: Leaver,
    organisation_id: uuid.UUID | str,
    fields: list[str],
    *,
    purpose: str = "support_delivery",
    explicit: bool | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "organisation_id": str(organisation_id),
        "fields": fields,
        "purpose": purpose,
        **extra,
    }
    if explicit is not None:
        body["explicit"] = explicit
    response = await client.post("/v1/me/consents", json=body, headers=leaver.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def revoke(client: httpx.AsyncClient, leaver: Leaver, grant_id: str) -> httpx.Response:
    return await client.post(f"/v1/me/consents/{grant_id}/revoke", headers=leaver.headers)


def leaves_of(data: dict[str, Any]) -> set[str]:
    return {f"{section}.{leaf}" for section, body in data.items() for leaf in body}


def sentinels_by_leaf(document: dict[str, Any]) -> dict[str, set[str]]:
    """Every distinctive string in each leaf of a document (for "never disclosed" checks)."""
    out: dict[str, set[str]] = {}

    def strings(value: Any) -> set[str]:
        if isinstance(value, str):
            return {value} if "sentinel" in value.lower() else set()
        if isinstance(value, dict):
            return set().union(*(strings(v) for v in value.values()))
        if isinstance(value, list):
            return set().union(*(strings(v) for v in value))
        return set()

    for section, body in document.items():
        for leaf, value in body.items():
            out[f"{section}.{leaf}"] = strings(value)
    return out
