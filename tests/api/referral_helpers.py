"""Builders for the referral tests: a provider with an offer, a leaver, a referral."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.api.consent_helpers import Leaver, make_leaver
from tests.api.offers_helpers import offer_body
from tests.support import Actor, Actors

PROVIDER_SCOPES = ("offers:write", "referrals:read", "referrals:write", "profiles:read")
# BASE's required_fields in tests/api/offers_helpers.py
REQUIRED = ["identity.given_name", "contact", "release.expected_at"]


@dataclass
class Provider:
    """One organisation's client holding every scope a provider needs."""

    actor: Actor

    @property
    def headers(self) -> dict[str, str]:
        return self.actor.headers

    @property
    def organisation_id(self) -> str:
        return str(self.actor.organisation_id)


async def make_provider(actors: Actors, name: str | None = None) -> Provider:
    return Provider(await actors.client(*PROVIDER_SCOPES, kind="provider", name=name))


async def publish(
    client: httpx.AsyncClient, provider: Provider, **overrides: Any
) -> dict[str, Any]:
    r = await client.post("/v1/offers", json=offer_body(**overrides), headers=provider.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


# Pass as a value to leave that member out of the request body.
OMIT: Any = object()


def referral_body(offer: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """What a leaver shown ``offer`` sends: its id and version, and (unless ``fields`` is
    given) exactly the fields it requires."""
    body = {
        "offer_id": offer["id"],
        "offer_version": offer["version"],
        "fields": offer["required_fields"],
        **extra,
    }
    return {k: v for k, v in body.items() if v is not OMIT}


async def refer(
    client: httpx.AsyncClient, leaver: Leaver, offer: dict[str, Any], **extra: Any
) -> httpx.Response:
    return await client.post(
        "/v1/me/referrals", json=referral_body(offer, **extra), headers=leaver.headers
    )


async def referred(
    client: httpx.AsyncClient, leaver: Leaver, offer: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    r = await refer(client, leaver, offer, **extra)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def move(
    client: httpx.AsyncClient,
    provider: Provider,
    referral_id: str,
    status: str,
    note: str | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"status": status}
    if note is not None:
        body["note"] = note
    return await client.post(
        f"/v1/referrals/{referral_id}/status", json=body, headers=provider.headers
    )


@dataclass
class Scene:
    provider: Provider
    offer: dict[str, Any]
    leaver: Leaver


async def scene(client: httpx.AsyncClient, actors: Actors, **offer: Any) -> Scene:
    provider = await make_provider(actors)
    return Scene(
        provider, await publish(client, provider, **offer), await make_leaver(client, actors)
    )
