"""The authorization code flow's API side (API.md §1, §3, §7): redirect URIs, pushed
requests, codes, grant-bound tokens and the metadata. The consent page has its own tests
(test_oauth_pages.py); here the leaver's decision is made as the page makes it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from jose import jwt
from sqlalchemy import text

from app.auth import codes
from app.db import Database
from app.main import create_app
from app.settings import Settings
from tests.api.consent_helpers import Leaver, grant, make_leaver, revoke
from tests.api.identity_helpers import basic, bearer
from tests.api.oauth_helpers import (
    REDIRECT,
    decide_directly,
    details,
    exchange,
    par,
    partner,
    pushed,
    verifier,
)
from tests.conftest import problem
from tests.support import Actor, Actors

THREE = ["contact.phone", "release.expected_at", "identity.given_name"]


def oauth_error(r: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["cache-control"] == "no-store"
    body: dict[str, Any] = r.json()
    assert body["error"] == error, body
    assert set(body) == {"error", "error_description"}
    return body


@pytest.fixture
async def admin(actors: Actors) -> Actor:
    return await actors.client("admin", kind="operator")


@pytest.fixture
async def leaver(client: httpx.AsyncClient, actors: Actors) -> Leaver:
    return await make_leaver(client, actors)


# --- redirect URIs on clients ---------------------------------------------------------------


async def test_clients_are_created_and_patched_with_redirect_uris(
    client: httpx.AsyncClient, admin: Actor, actors: Actors
) -> None:
    org = await actors.client("profiles:read")
    r = await client.post(
        "/v1/admin/clients",
        json={
            "organisation_id": str(org.organisation_id),
            "name": "Case system",
            "scopes": ["profiles:read"],
            "redirect_uris": [REDIRECT, "http://127.0.0.1:8765/cb"],
        },
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["redirect_uris"] == [REDIRECT, "http://127.0.0.1:8765/cb"]
    # Without redirect_uris: none.
    plain = await client.post(
        "/v1/admin/clients",
        json={"organisation_id": str(org.organisation_id), "name": "x", "scopes": ["admin"]},
        headers=admin.headers,
    )
    assert plain.json()["redirect_uris"] == []

    r = await client.patch(
        f"/v1/admin/clients/{made['client_id']}",
        json={"redirect_uris": ["http://localhost:9000/back"]},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["redirect_uris"] == ["http://localhost:9000/back"]
    assert "client_secret" not in r.json()
    listed = await client.get(
        "/v1/admin/clients",
        params={"organisation_id": str(org.organisation_id)},
        headers=admin.headers,
    )
    by_id = {c["client_id"]: c for c in listed.json()["items"]}
    assert by_id[made["client_id"]]["redirect_uris"] == ["http://localhost:9000/back"]

    missing = await client.patch(
        "/v1/admin/clients/onw_nobody", json={"redirect_uris": []}, headers=admin.headers
    )
    assert missing.status_code == 404
    forbidden = await client.patch(
        f"/v1/admin/clients/{made['client_id']}",
        json={"redirect_uris": []},
        headers=org.headers,
    )
    assert forbidden.status_code == 403


@pytest.mark.parametrize(
    "uri",
    [
        "http://partner.example.org/cb",  # http beyond loopback
        "http://127.0.0.1/cb",  # loopback without a port
        "https://partner.example.org/cb#frag",
        "https://good.example.org@evil.example.net/cb",
        "https://partner.example.org\\@evil.example.net/cb",
        "/relative/cb",
        "javascript:alert(1)",
        "https://partner.example.org/c b",
        "ftp://partner.example.org/cb",
        "https:///no-host",
        "",
    ],
)
async def test_bad_redirect_uris_are_refused_without_echo(
    client: httpx.AsyncClient, admin: Actor, actors: Actors, uri: str
) -> None:
    org = await actors.client("profiles:read")
    r = await client.post(
        "/v1/admin/clients",
        json={
            "organisation_id": str(org.organisation_id),
            "name": "Case system",
            "scopes": ["profiles:read"],
            "redirect_uris": [REDIRECT, uri],
        },
        headers=admin.headers,
    )
    body = problem(r)
    assert r.status_code == 422
    assert body["errors"][0]["loc"] == ["body", "redirect_uris", 1]
    if uri:
        assert uri not in r.text
    patched = await client.patch(
        f"/v1/admin/clients/{org.client_id}", json={"redirect_uris": [uri]}, headers=admin.headers
    )
    assert patched.status_code == 422
    assert problem(patched)["errors"][0]["loc"] == ["body", "redirect_uris", 0]


# --- pushed authorization requests ----------------------------------------------------------


async def test_par_answers_a_request_uri(client: httpx.AsyncClient, actors: Actors) -> None:
    actor = await partner(actors)
    r = await par(client, actor, verifier(), THREE)
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert set(body) == {"request_uri", "expires_in"}
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert len(body["request_uri"]) > len("urn:ietf:params:oauth:request_uri:") + 40
    assert body["expires_in"] == 60
    # Only a hash of the handle is stored.
    async with actors.db.sessionmaker() as session:
        stored = (
            (await session.execute(text("SELECT handle_hash FROM authorization_requests")))
            .scalars()
            .all()
        )
    handle = body["request_uri"].rsplit(":", 1)[1]
    assert handle not in stored
    assert codes._hash(handle) in stored


async def test_par_with_form_credentials(client: httpx.AsyncClient, actors: Actors) -> None:
    actor = await partner(actors)
    form = {
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "code_challenge": codes.s256(verifier()),
        "code_challenge_method": "S256",
        "authorization_details": details(["contact"]),
        "client_id": actor.client_id,
        "client_secret": actor.client_secret,
    }
    r = await client.post("/oauth/par", data=form)
    assert r.status_code == 201, r.text


async def test_par_needs_client_authentication(client: httpx.AsyncClient, actors: Actors) -> None:
    actor = await partner(actors)
    no_auth = await client.post(
        "/oauth/par", data={"response_type": "code", "client_id": actor.client_id}
    )
    body = oauth_error(no_auth, 401, "invalid_client")
    assert body["error_description"]
    assert no_auth.headers["www-authenticate"].startswith("Basic")
    wrong = await client.post(
        "/oauth/par", data={"response_type": "code"}, headers=basic(actor.client_id, "nope")
    )
    oauth_error(wrong, 401, "invalid_client")


async def test_par_needs_profiles_read(client: httpx.AsyncClient, actors: Actors) -> None:
    actor = await partner(actors, "referrals:read")
    oauth_error(await par(client, actor, verifier(), THREE), 400, "unauthorized_client")


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"redirect_uri": "https://evil.example.net/cb"}, "invalid_request"),
        ({"redirect_uri": REDIRECT + "/"}, "invalid_request"),  # exact match only
        ({"redirect_uri": REDIRECT + "?x=1"}, "invalid_request"),
        ({"redirect_uri": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": None}, "unsupported_response_type"),
        ({"request_uri": "urn:ietf:params:oauth:request_uri:x"}, "invalid_request"),
        ({"scope": "admin"}, "invalid_scope"),
        ({"state": "s" * 513}, "invalid_request"),
        ({"authorization_details": None}, "invalid_authorization_details"),
        ({"authorization_details": "not json"}, "invalid_authorization_details"),
        ({"authorization_details": "{}"}, "invalid_authorization_details"),
        ({"authorization_details": "[]"}, "invalid_authorization_details"),
        (
            {"authorization_details": details(["contact.shoe_size"])},
            "invalid_authorization_details",
        ),
        (
            {"authorization_details": details(["contact.phone"], "marketing")},
            "invalid_authorization_details",
        ),
        ({"authorization_details": details([])}, "invalid_authorization_details"),
        (
            {"authorization_details": details(["contact.phone"], extra="x")},
            "invalid_authorization_details",
        ),
        (
            {
                "authorization_details": json.dumps(
                    [{"type": "payment", "fields": ["contact.phone"], "purpose": "referral"}]
                )
            },
            "invalid_authorization_details",
        ),
        (
            {"authorization_details": json.dumps([json.loads(details(["contact.phone"]))[0]] * 2)},
            "invalid_authorization_details",
        ),
        (
            {
                "authorization_details": details(
                    ["contact.phone"], expires_at="2001-01-01T00:00:00Z"
                )
            },
            "invalid_authorization_details",
        ),
        (
            {"authorization_details": details(["contact.phone"], expires_at="2027-01-01")},
            "invalid_authorization_details",
        ),
    ],
)
async def test_par_refusals(
    client: httpx.AsyncClient, actors: Actors, overrides: dict[str, str | None], error: str
) -> None:
    actor = await partner(actors)
    r = await par(client, actor, verifier(), THREE, **overrides)
    body = oauth_error(r, 400, error)
    assert "shoe_size" not in body["error_description"]
    assert "evil" not in body["error_description"]
    async with actors.db.sessionmaker() as session:
        assert (
            await session.execute(
                text("SELECT count(*) FROM authorization_requests WHERE client_id = :c"),
                {"c": actor.client_id},
            )
        ).scalar() == 0


async def test_client_without_redirect_uris_cannot_push(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    actor = await partner(actors, redirect_uris=[])
    oauth_error(await par(client, actor, verifier(), THREE), 400, "invalid_request")


async def test_request_uri_works_once_within_60_seconds_for_its_client(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors
) -> None:
    actor = await partner(actors)
    other = await partner(actors)
    request_uri = await pushed(client, actor, verifier(), THREE)
    async with app.state.db.sessionmaker() as session:
        assert await codes.consume_request(session, other.client_id, request_uri) is None
        pending = await codes.consume_request(session, actor.client_id, request_uri)
        assert pending is not None
        assert pending.fields == ["identity.given_name", "contact.phone", "release.expected_at"]
        assert pending.organisation_name == actor.organisation_name
        assert await codes.consume_request(session, actor.client_id, request_uri) is None
        late = await pushed(client, actor, verifier(), THREE)
        await session.execute(
            text(
                "UPDATE authorization_requests SET expires_at = now() - interval '1 second' "
                "WHERE used_at IS NULL"
            )
        )
        assert await codes.consume_request(session, actor.client_id, late) is None
        await session.rollback()


# --- codes ------------------------------------------------------------------------------------


async def _code(
    client: httpx.AsyncClient,
    app: FastAPI,
    actor: Actor,
    leaver: Leaver,
    ticked: list[str],
    requested: list[str] = THREE,
) -> tuple[str, str]:
    v = verifier()
    request_uri = await pushed(client, actor, v, requested)
    return await decide_directly(app, actor, request_uri, leaver.id, ticked), v


async def test_code_exchange_gives_a_token_bound_to_the_grant(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, leaver: Leaver
) -> None:
    actor = await partner(actors)
    # The organisation already holds a wider grant: the bound token must not see it.
    await grant(client, leaver, actor.organisation_id, ["identity", "contact"])
    code, v = await _code(client, app, actor, leaver, ["contact.phone", "release.expected_at"])
    r = await exchange(client, actor, code, v)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "scope",
        "profile_id",
        "authorization_details",
    }
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "profiles:read"
    assert body["profile_id"] == leaver.id
    [granted] = body["authorization_details"]
    assert granted["type"] == "onward_profile"
    assert granted["fields"] == ["contact.phone", "release.expected_at"]
    assert granted["purpose"] == "support_delivery"
    claims = jwt.get_unverified_claims(body["access_token"])
    assert claims["grant_id"] == granted["grant_id"]
    assert claims["sub"] == leaver.id
    assert claims["org"] == str(actor.organisation_id)

    read = await client.get(f"/v1/profiles/{leaver.id}", headers=bearer(body["access_token"]))
    assert read.status_code == 200, read.text
    view = read.json()
    assert view["disclosed_fields"] == ["contact.phone", "release.expected_at"]
    assert view["data"] == {
        "contact": {"phone": "07700 900123"},
        "release": {"expected_at": "2026-12-04T09:00:00Z"},
    }
    assert view["grant_ids"] == [granted["grant_id"]]
    assert "SENTINEL" not in read.text
    # The organisation's own client-credentials token still sees its union.
    wide = await client.get(f"/v1/profiles/{leaver.id}", headers=actor.headers)
    assert "identity.given_name" in wide.json()["disclosed_fields"]
    # The list shows the same single cut.
    listed = await client.get("/v1/profiles", headers=bearer(body["access_token"]))
    assert listed.status_code == 200
    assert [i["disclosed_fields"] for i in listed.json()["items"]] == [
        ["contact.phone", "release.expected_at"]
    ]
    # Each read recorded exactly what it returned, under that grant only.
    log = await client.get("/v1/me/access-log", headers=leaver.headers)
    events = [e for e in log.json()["items"] if e["grant_ids"] == [granted["grant_id"]]]
    assert len(events) == 2
    assert all(e["fields"] == ["contact.phone", "release.expected_at"] for e in events)
    assert all(e["client_id"] == actor.client_id for e in events)


async def test_a_grant_bound_token_sees_nothing_once_the_grant_ends(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, leaver: Leaver
) -> None:
    actor = await partner(actors)
    await grant(client, leaver, actor.organisation_id, ["contact"])
    code, v = await _code(client, app, actor, leaver, ["contact.phone"])
    body = (await exchange(client, actor, code, v)).json()
    token = body["access_token"]
    grant_id = body["authorization_details"][0]["grant_id"]
    assert (await client.get(f"/v1/profiles/{leaver.id}", headers=bearer(token))).status_code == 200
    assert (await revoke(client, leaver, grant_id)).status_code == 200
    after = await client.get(f"/v1/profiles/{leaver.id}", headers=bearer(token))
    assert after.status_code == 404
    assert problem(after)["status"] == 404
    listed = await client.get("/v1/profiles", headers=bearer(token))
    assert listed.json()["items"] == []
    # The organisation's other grant is untouched.
    assert (await client.get(f"/v1/profiles/{leaver.id}", headers=actor.headers)).status_code == 200


async def test_a_grant_bound_token_reads_only_its_own_profile(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, leaver: Leaver
) -> None:
    actor = await partner(actors)
    someone_else = await make_leaver(client, actors)
    await grant(client, someone_else, actor.organisation_id, ["contact"])
    code, v = await _code(client, app, actor, leaver, ["contact.phone"])
    token = (await exchange(client, actor, code, v)).json()["access_token"]
    r = await client.get(f"/v1/profiles/{someone_else.id}", headers=bearer(token))
    assert r.status_code == 404
    listed = (await client.get("/v1/profiles", headers=bearer(token))).json()["items"]
    assert [i["id"] for i in listed] == [leaver.id]


async def test_a_disabled_client_s_bound_token_is_refused(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, leaver: Leaver, admin: Actor
) -> None:
    actor = await partner(actors)
    code, v = await _code(client, app, actor, leaver, ["contact.phone"])
    token = (await exchange(client, actor, code, v)).json()["access_token"]
    await client.post(f"/v1/admin/clients/{actor.client_id}/disable", headers=admin.headers)
    r = await client.get(f"/v1/profiles/{leaver.id}", headers=bearer(token))
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_reused_code_fails_and_revokes_the_first_token(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, leaver: Leaver
) -> None:
    actor = await partner(actors)
    code, v = await _code(client, app, actor, leaver, ["contact.phone"])
    first = await exchange(client, actor, code, v)
    token = first.json()["access_token"]
    assert (await client.get(f"/v1/profiles/{leaver.id}", headers=bearer(token))).status_code == 200
    again = await exchange(client, actor, code, v)
    oauth_error(again, 400, "invalid_grant")
    r = await client.get(f"/v1/profiles/{leaver.id}", headers=bearer(token))
    assert r.status_code == 401
    # The grant stays: it is the leaver's decision (see app/auth/codes.py).
    consents = (await client.get("/v1/me/consents", headers=leaver.headers)).json()["items"]
    assert [c["status"] for c in consents] == ["active"]


@pytest.mark.parametrize(
    "case", ["wrong_verifier", "malformed_verifier", "wrong_redirect", "expired"]
)
async def test_a_failed_exchange_burns_the_code(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, leaver: Leaver, case: str
) -> None:
    actor = await partner(actors)
    code, v = await _code(client, app, actor, leaver, ["contact.phone"])
    if case == "wrong_verifier":
        r = await exchange(client, actor, code, verifier())
    elif case == "malformed_verifier":
        r = await exchange(client, actor, code, "short")
    elif case == "wrong_redirect":
        r = await exchange(client, actor, code, v, redirect_uri="https://evil.example.net/cb")
    else:
        async with actors.db.sessionmaker() as session:
            await session.execute(
                text("UPDATE authorization_codes SET expires_at = now() - interval '1 second'")
            )
            await session.commit()
        r = await exchange(client, actor, code, v)
    oauth_error(r, 400, "invalid_grant")
    # The right presentation now fails too: a code has one try.
    oauth_error(await exchange(client, actor, code, v), 400, "invalid_grant")


async def test_missing_pkce_verifier_is_invalid_request(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, leaver: Leaver
) -> None:
    actor = await partner(actors)
    code, v = await _code(client, app, actor, leaver, ["contact.phone"])
    oauth_error(await exchange(client, actor, code, None), 400, "invalid_request")
    # Not a presentation: the code still works.
    assert (await exchange(client, actor, code, v)).status_code == 200


async def test_a_code_from_another_client_is_refused_and_not_burnt(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, leaver: Leaver
) -> None:
    actor = await partner(actors)
    thief = await partner(actors)
    code, v = await _code(client, app, actor, leaver, ["contact.phone"])
    oauth_error(await exchange(client, thief, code, v), 400, "invalid_grant")
    assert (await exchange(client, actor, code, v)).status_code == 200


async def test_code_exchange_needs_client_authentication(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, leaver: Leaver
) -> None:
    actor = await partner(actors)
    code, v = await _code(client, app, actor, leaver, ["contact.phone"])
    r = await client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": v,
            "client_id": actor.client_id,
        },
    )
    oauth_error(r, 401, "invalid_client")
    assert (await exchange(client, actor, code, v)).status_code == 200


async def test_a_code_for_a_grant_revoked_before_exchange_gives_nothing(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, leaver: Leaver
) -> None:
    actor = await partner(actors)
    code, v = await _code(client, app, actor, leaver, ["contact.phone"])
    [made] = (await client.get("/v1/me/consents", headers=leaver.headers)).json()["items"]
    await revoke(client, leaver, made["id"])
    oauth_error(await exchange(client, actor, code, v), 400, "invalid_grant")


async def test_unknown_code_is_invalid_grant(client: httpx.AsyncClient, actors: Actors) -> None:
    actor = await partner(actors)
    oauth_error(await exchange(client, actor, "nonsense", verifier()), 400, "invalid_grant")


async def test_a_forged_grant_claim_on_a_leaver_token_is_refused(
    client: httpx.AsyncClient, app: FastAPI, leaver: Leaver
) -> None:
    token = app.state.tokens.issue(
        subject=leaver.id, client_id="onward-leaver", scopes=["self"], grant_id="not-a-uuid"
    ).token
    assert (await client.get("/v1/me", headers=bearer(token))).status_code == 401


# --- metadata -----------------------------------------------------------------------------------


async def test_metadata_advertises_the_flow_and_validates_with_authlib(
    settings: Settings, db: Database
) -> None:
    from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

    # authlib (rightly) insists on an https issuer, as production does.
    served = create_app(settings.model_copy(update={"issuer": "https://onward.example"}), db)
    async with (
        served.router.lifespan_context(served),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=served), base_url="https://onward.example"
        ) as https_client,
    ):
        r = await https_client.get("/.well-known/oauth-authorization-server")
    meta = r.json()
    AuthorizationServerMetadata(meta).validate()
    assert meta["authorization_endpoint"] == "https://onward.example/oauth/authorize"
    assert meta["pushed_authorization_request_endpoint"] == "https://onward.example/oauth/par"
    assert meta["require_pushed_authorization_requests"] is True
    assert meta["response_types_supported"] == ["code"]
    assert set(meta["grant_types_supported"]) == {
        "authorization_code",
        "client_credentials",
        "urn:onward:grant-type:leaver-pin",
    }
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_details_types_supported"] == ["onward_profile"]
    assert meta["authorization_response_iss_parameter_supported"] is True


async def test_grant_expiry_from_the_request_is_kept(
    client: httpx.AsyncClient, app: FastAPI, actors: Actors, leaver: Leaver
) -> None:
    actor = await partner(actors)
    until = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    v = verifier()
    request_uri = await pushed(
        client,
        actor,
        v,
        ["contact.phone"],
        authorization_details=details(["contact.phone"], expires_at=until.isoformat()),
    )
    code = await decide_directly(app, actor, request_uri, leaver.id, ["contact.phone"])
    body = (await exchange(client, actor, code, v)).json()
    assert datetime.fromisoformat(body["authorization_details"][0]["expires_at"]) == until
