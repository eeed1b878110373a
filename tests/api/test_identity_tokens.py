"""The resource server's checks (API.md §0 "auth errors", §1 "Access tokens").

Every forged or invalid token is answered 401 with ``error="invalid_token"``, on a real
endpoint that needs a scope (the admin list).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI

from app.auth.tokens import KeyRing, TokenService, generate_private_pem
from app.db import Database
from app.main import create_app
from app.settings import Settings
from tests.api.identity_helpers import (
    b64url,
    bearer,
    forge_es256,
    forge_hs256,
    signing_input,
    valid_claims,
)
from tests.conftest import problem
from tests.support import Actor, Actors

PROTECTED = "/v1/admin/organisations"


def assert_invalid_token(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    assert r.headers["www-authenticate"].startswith("Bearer ")
    problem(r)


@pytest.fixture
async def admin(actors: Actors) -> Actor:
    return await actors.client("admin", kind="operator")


def _our_key(tokens: TokenService) -> ec.EllipticCurvePrivateKey:
    pem = tokens.keys.current.private_pem
    assert pem is not None
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def _header(tokens: TokenService, **overrides: Any) -> dict[str, Any]:
    header = {"alg": "ES256", "typ": "at+jwt", "kid": tokens.keys.current.kid}
    header.update(overrides)
    return {k: v for k, v in header.items() if v is not None}


def _claims_of(admin: Actor, tokens: TokenService, **overrides: Any) -> dict[str, Any]:
    """Claims that would be valid for the admin actor: only the forgery itself is wrong."""
    return valid_claims(
        tokens,
        sub=admin.client_id,
        client_id=admin.client_id,
        org=str(admin.organisation_id),
        **overrides,
    )


def _alg_none(t: TokenService, a: Actor) -> str:
    return signing_input(_header(t, alg="none"), _claims_of(a, t)) + "."


def _hs256_with_public_key(t: TokenService, a: Actor) -> str:
    return forge_hs256(
        t.keys.current.public_pem.encode(), _header(t, alg="HS256"), _claims_of(a, t)
    )


def _foreign_key_our_kid(t: TokenService, a: Actor) -> str:
    return forge_es256(ec.generate_private_key(ec.SECP256R1()), _header(t), _claims_of(a, t))


def _tampered_payload(t: TokenService, a: Actor) -> str:
    head, _, sig = t.issue(
        subject=a.client_id,
        client_id=a.client_id,
        scopes=["admin"],
        organisation_id=str(a.organisation_id),
    ).token.split(".")
    claims = _claims_of(a, t, scope="admin profiles:read")
    body = b64url(json.dumps(claims).encode())
    return f"{head}.{body}.{sig}"


def _expired(t: TokenService, a: Actor) -> str:
    return t.issue(
        subject=a.client_id,
        client_id=a.client_id,
        scopes=["admin"],
        organisation_id=str(a.organisation_id),
        now=int(time.time()) - 700,
    ).token


def _signed(**overrides: Any) -> Callable[[TokenService, Actor], str]:
    def make(t: TokenService, a: Actor) -> str:
        return forge_es256(_our_key(t), _header(t), _claims_of(a, t, **overrides))

    return make


def _wrong_typ(t: TokenService, a: Actor) -> str:
    return forge_es256(_our_key(t), _header(t, typ="JWT"), _claims_of(a, t))


def _no_typ(t: TokenService, a: Actor) -> str:
    return forge_es256(_our_key(t), _header(t, typ=None), _claims_of(a, t))


def _unknown_kid(t: TokenService, a: Actor) -> str:
    return forge_es256(_our_key(t), _header(t, kid="someone-else"), _claims_of(a, t))


def _receipt_as_token(t: TokenService, a: Actor) -> str:
    return t.sign_receipt(_claims_of(a, t))


def _zero_signature(t: TokenService, a: Actor) -> str:
    return signing_input(_header(t), _claims_of(a, t)) + "." + b64url(bytes(64))


def _array_header(t: TokenService, a: Actor) -> str:
    head = b64url(b'["ES256"]')
    return f"{head}.{b64url(json.dumps(_claims_of(a, t)).encode())}.{b64url(bytes(64))}"


FORGERIES: dict[str, Callable[[TokenService, Actor], str]] = {
    "alg none": _alg_none,
    "HS256 keyed with our public key": _hs256_with_public_key,
    "foreign key with our kid": _foreign_key_our_kid,
    "tampered payload": _tampered_payload,
    "expired beyond leeway": _expired,
    "wrong aud": _signed(aud="https://elsewhere.example"),
    "wrong iss": _signed(iss="https://elsewhere.example"),
    "wrong typ": _wrong_typ,
    "no typ": _no_typ,
    "missing jti": _signed(jti=None),
    "missing exp": _signed(exp=None),
    "missing iat": _signed(iat=None),
    "missing aud": _signed(aud=None),
    "iat in the future": _signed(iat=int(time.time()) + 3600, exp=int(time.time()) + 4000),
    "exp not a number": _signed(exp="soon"),
    "unknown kid": _unknown_kid,
    "consent receipt as a token": _receipt_as_token,
    "all-zero signature": _zero_signature,
    "header is not an object": _array_header,
    "garbage": lambda t, a: "not-a-jwt",
}


@pytest.mark.parametrize("forgery", FORGERIES.values(), ids=FORGERIES.keys())
async def test_forged_or_invalid_token_is_401_invalid_token(
    client: httpx.AsyncClient,
    app: FastAPI,
    admin: Actor,
    forgery: Callable[[TokenService, Actor], str],
) -> None:
    # The genuine token of the same actor works, so only the forgery is refused.
    assert (await client.get(PROTECTED, headers=admin.headers)).status_code == 200
    token = forgery(app.state.tokens, admin)
    assert_invalid_token(await client.get(PROTECTED, headers=bearer(token)))


async def test_a_valid_token_in_the_query_string_is_refused(
    client: httpx.AsyncClient, admin: Actor
) -> None:
    assert_invalid_token(await client.get(PROTECTED, params={"access_token": admin.token}))
    # Even alongside a good header: the URL has already leaked it.
    r = await client.get(PROTECTED, params={"access_token": admin.token}, headers=admin.headers)
    assert_invalid_token(r)


async def test_leeway_is_at_most_five_seconds(
    client: httpx.AsyncClient, app: FastAPI, admin: Actor
) -> None:
    tokens: TokenService = app.state.tokens

    def expired_ago(seconds: int) -> str:
        return tokens.issue(
            subject=admin.client_id,
            client_id=admin.client_id,
            scopes=["admin"],
            organisation_id=str(admin.organisation_id),
            now=int(time.time()) - 600 - seconds,
            ttl_seconds=600,
        ).token

    assert (await client.get(PROTECTED, headers=bearer(expired_ago(2)))).status_code == 200
    assert_invalid_token(await client.get(PROTECTED, headers=bearer(expired_ago(8))))


async def test_no_token_is_bare_bearer_challenge(client: httpx.AsyncClient) -> None:
    r = await client.get(PROTECTED)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    problem(r)


async def test_other_scheme_is_invalid_token(client: httpx.AsyncClient, admin: Actor) -> None:
    basic = base64.b64encode(f"{admin.client_id}:{admin.client_secret}".encode()).decode()
    assert_invalid_token(await client.get(PROTECTED, headers={"Authorization": f"Basic {basic}"}))


async def test_missing_scope_is_403_insufficient_scope(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    partner = await actors.client("profiles:read")
    r = await client.get(PROTECTED, headers=partner.headers)
    assert r.status_code == 403
    assert r.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="admin"'
    problem(r)


async def test_leaver_token_has_no_admin_scope(client: httpx.AsyncClient, actors: Actors) -> None:
    import uuid

    r = await client.get(PROTECTED, headers=actors.leaver_headers(uuid.uuid4()))
    assert r.status_code == 403


async def test_jwks_and_metadata_are_public(client: httpx.AsyncClient, app: FastAPI) -> None:
    jwks = await client.get("/.well-known/jwks.json")
    assert jwks.status_code == 200
    assert jwks.headers["cache-control"] == "public, max-age=300"
    [key] = jwks.json()["keys"]
    assert key["kid"] == app.state.tokens.keys.current.kid
    assert {key["kty"], key["crv"], key["alg"], key["use"]} == {"EC", "P-256", "ES256", "sig"}
    assert "d" not in key  # never the private part

    meta = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert meta["issuer"] == "http://testserver"
    assert meta["token_endpoint"] == "http://testserver/oauth/token"
    assert meta["jwks_uri"] == "http://testserver/.well-known/jwks.json"
    assert meta["revocation_endpoint"] == "http://testserver/oauth/revoke"
    assert meta["introspection_endpoint"] == "http://testserver/oauth/introspect"
    assert meta["grant_types_supported"] == [
        "authorization_code",
        "client_credentials",
        "urn:onward:grant-type:leaver-pin",
    ]
    assert set(meta["scopes_supported"]) >= {"admin", "profiles:read", "self"}
    assert meta["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]


async def test_key_rotation_old_key_still_verifies(
    tmp_path: Path, settings: Settings, db: Database, actors: Actors
) -> None:
    """A new key signs; tokens signed by the previous key keep working; JWKS lists both."""
    old_file, new_file = tmp_path / "old.pem", tmp_path / "new.pem"
    old_file.write_bytes(generate_private_pem())
    new_file.write_bytes(generate_private_pem())
    admin = await actors.client("admin", kind="operator")
    rotated = settings.model_copy(
        update={"signing_key_file": new_file, "previous_key_files": [old_file]}
    )
    app = create_app(rotated, database=db)
    async with app.router.lifespan_context(app):
        tokens: TokenService = app.state.tokens
        old = TokenService(
            KeyRing(old_file.read_bytes()),
            issuer=tokens.issuer,
            audience=tokens.audience,
            ttl_seconds=600,
        )
        by_old = old.issue(
            subject=admin.client_id,
            client_id=admin.client_id,
            scopes=["admin"],
            organisation_id=str(admin.organisation_id),
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as c:
            kids = {k["kid"] for k in (await c.get("/.well-known/jwks.json")).json()["keys"]}
            assert kids == {tokens.keys.current.kid, old.keys.current.kid}
            assert len(kids) == 2
            assert (await c.get(PROTECTED, headers=bearer(by_old.token))).status_code == 200
            r = await c.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(admin.client_id, admin.client_secret),
            )
            new_token = r.json()["access_token"]
            header = json.loads(base64.urlsafe_b64decode(new_token.split(".")[0] + "=="))
            assert header["kid"] == tokens.keys.current.kid != old.keys.current.kid
            assert (await c.get(PROTECTED, headers=bearer(new_token))).status_code == 200
            # A key that is in neither the current nor the previous files verifies nothing.
            stranger = TokenService(
                KeyRing(generate_private_pem()),
                issuer=tokens.issuer,
                audience=tokens.audience,
                ttl_seconds=600,
            ).issue(
                subject=admin.client_id,
                client_id=admin.client_id,
                scopes=["admin"],
                organisation_id=str(admin.organisation_id),
            )
            assert_invalid_token(await c.get(PROTECTED, headers=bearer(stranger.token)))


async def test_openapi_declares_scopes_per_operation(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    create = spec["paths"]["/v1/admin/organisations"]["post"]
    assert {"OAuth2": ["admin"]} in create["security"]
    assert any("BearerToken" in s for s in create["security"])
    assert "security" not in spec["paths"]["/v1/organisations/{organisation_id}"]["get"]
    token = spec["paths"]["/oauth/token"]["post"]
    assert "application/x-www-form-urlencoded" in token["requestBody"]["content"]
