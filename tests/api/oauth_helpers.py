"""Helpers for the authorization code flow tests (API.md §7)."""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from app.auth import codes
from app.consent.service import grant_consent
from app.models import Client
from tests.api.identity_helpers import basic
from tests.support import Actor, Actors

REDIRECT = "https://partner.example.org/onward/callback"


async def partner(actors: Actors, *scopes: str, redirect_uris: list[str] | None = None) -> Actor:
    """A partner client with ``scopes`` (default profiles:read) and registered redirect URIs."""
    actor = await actors.client(*(scopes or ("profiles:read",)))
    async with actors.db.sessionmaker() as session:
        await session.execute(
            update(Client)
            .where(Client.client_id == actor.client_id)
            .values(redirect_uris=[REDIRECT] if redirect_uris is None else redirect_uris)
        )
        await session.commit()
    return actor


def verifier() -> str:
    return secrets.token_urlsafe(48)


def details(fields: list[str], purpose: str = "support_delivery", **extra: Any) -> str:
    return json.dumps([{"type": "onward_profile", "fields": fields, "purpose": purpose, **extra}])


def par_form(code_verifier: str, fields: list[str], **overrides: str | None) -> dict[str, str]:
    form: dict[str, str | None] = {
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "state": "xyz-state",
        "code_challenge": codes.s256(code_verifier),
        "code_challenge_method": "S256",
        "authorization_details": details(fields),
        **overrides,
    }
    return {k: v for k, v in form.items() if v is not None}


async def par(
    client: httpx.AsyncClient,
    actor: Actor,
    code_verifier: str,
    fields: list[str],
    **overrides: str | None,
) -> httpx.Response:
    return await client.post(
        "/oauth/par",
        data=par_form(code_verifier, fields, **overrides),
        headers=basic(actor.client_id, actor.client_secret),
    )


async def pushed(
    client: httpx.AsyncClient,
    actor: Actor,
    code_verifier: str,
    fields: list[str],
    **overrides: str | None,
) -> str:
    r = await par(client, actor, code_verifier, fields, **overrides)
    assert r.status_code == 201, r.text
    request_uri: str = r.json()["request_uri"]
    return request_uri


async def decide_directly(
    app: FastAPI,
    actor: Actor,
    request_uri: str,
    profile_id: str,
    ticked: list[str],
    *,
    explicit: bool = False,
) -> str:
    """What the consent page does on `allow`, without a browser: consume the request,
    make the grant of the ticked fields, issue a code."""
    async with app.state.db.sessionmaker() as session:
        pending = await codes.consume_request(session, actor.client_id, request_uri)
        assert pending is not None
        grant = await grant_consent(
            session,
            app.state.receipts,
            profile_id=uuid.UUID(profile_id),
            organisation_id=uuid.UUID(pending.organisation_id),
            fields=ticked,
            purpose=pending.purpose,
            expires_at=codes.grant_expiry(pending),
            explicit=explicit,
            collection_method="web",
        )
        code = await codes.issue_code(
            session, pending, profile_id=uuid.UUID(profile_id), grant_id=grant["id"]
        )
        await session.commit()
    return code


async def exchange(
    client: httpx.AsyncClient, actor: Actor, code: str, code_verifier: str | None, **extra: str
) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **extra}
    if code_verifier is not None:
        form["code_verifier"] = code_verifier
    return await client.post(
        "/oauth/token", data=form, headers=basic(actor.client_id, actor.client_secret)
    )
