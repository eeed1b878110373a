"""Organisations and clients under /v1/admin (scope admin), the public look-ups, the CLI."""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.admin_cli import add_admin_commands
from app.auth.secrets import hash_secret
from app.db import Database
from app.models import Client
from tests.api.identity_helpers import basic, bearer, client_token
from tests.conftest import problem
from tests.support import Actor, Actors


@pytest.fixture
async def admin(actors: Actors) -> Actor:
    return await actors.client("admin", kind="operator")


async def _organisation(
    client: httpx.AsyncClient, admin: Actor, name: str, kind: str = "provider"
) -> dict[str, Any]:
    r = await client.post(
        "/v1/admin/organisations", json={"name": name, "kind": kind}, headers=admin.headers
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def _new_client(
    client: httpx.AsyncClient, admin: Actor, organisation_id: str, *scopes: str
) -> dict[str, Any]:
    r = await client.post(
        "/v1/admin/clients",
        json={"organisation_id": organisation_id, "name": "CMS", "scopes": list(scopes)},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_create_organisation(client: httpx.AsyncClient, admin: Actor) -> None:
    body = await _organisation(client, admin, "  Reading Housing Trust ")
    assert set(body) == {"id", "name", "kind", "active", "created_at"}
    assert body["name"] == "Reading Housing Trust"
    assert body["kind"] == "provider"
    uuid.UUID(body["id"])
    assert body["created_at"].endswith("Z") or body["created_at"].endswith("+00:00")


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "X", "kind": "charity"},
        {"name": "", "kind": "provider"},
        {"name": "x" * 201, "kind": "provider"},
        {"kind": "provider"},
        {"name": "X", "kind": "provider", "extra": 1},
    ],
)
async def test_create_organisation_invalid(
    client: httpx.AsyncClient, admin: Actor, payload: dict[str, Any]
) -> None:
    r = await client.post("/v1/admin/organisations", json=payload, headers=admin.headers)
    assert r.status_code == 422
    problem(r)


async def test_admin_endpoints_need_the_admin_scope(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    partner = await actors.client("profiles:read", "offers:write")
    for method, path in [
        ("POST", "/v1/admin/organisations"),
        ("GET", "/v1/admin/organisations"),
        ("POST", "/v1/admin/clients"),
        ("GET", "/v1/admin/clients"),
        ("POST", f"/v1/admin/clients/{partner.client_id}/rotate-secret"),
        ("POST", f"/v1/admin/clients/{partner.client_id}/disable"),
    ]:
        r = await client.request(method, path, headers=partner.headers, json={})
        assert r.status_code == 403, (method, path)
        r = await client.request(method, path, json={})
        assert r.status_code == 401, (method, path)
    # The partner was neither disabled nor rotated.
    assert (await client_token(client, partner.client_id, partner.client_secret)).is_success


async def test_list_organisations_pages_newest_first(
    client: httpx.AsyncClient, admin: Actor
) -> None:
    made = [(await _organisation(client, admin, f"Org {i}"))["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = await client.get("/v1/admin/organisations", params=params, headers=admin.headers)
        assert r.status_code == 200
        page = r.json()
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= 2
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen[:5] == list(reversed(made))
    assert seen[5] == str(admin.organisation_id)
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 101}, {"cursor": "garbage!"}, {"cursor": "eyJ0IjoxfQ"}]
)
async def test_list_bad_limit_or_cursor_is_422(
    client: httpx.AsyncClient, admin: Actor, params: dict[str, Any]
) -> None:
    r = await client.get("/v1/admin/organisations", params=params, headers=admin.headers)
    assert r.status_code == 422
    body = problem(r)
    assert "garbage" not in r.text
    assert body["errors"][0]["loc"][0] == "query"


async def test_create_client_and_use_it(
    client: httpx.AsyncClient, admin: Actor, db: Database
) -> None:
    org = await _organisation(client, admin, "Thames Valley Partnership", "partner")
    made = await _new_client(client, admin, org["id"], "referrals:read", "profiles:read")
    assert set(made) == {
        "client_id",
        "client_secret",
        "organisation_id",
        "name",
        "scopes",
        "redirect_uris",
        "active",
        "created_at",
    }
    assert made["organisation_id"] == org["id"]
    assert made["scopes"] == ["profiles:read", "referrals:read"]
    assert made["active"] is True
    assert len(made["client_secret"]) >= 43  # 256 bits, base64url
    # Stored only as a hash.
    async with db.sessionmaker() as session:
        stored = await session.get(Client, made["client_id"])
        assert stored is not None
        assert made["client_secret"] not in stored.secret_hash
        assert stored.secret_hash == hash_secret(made["client_secret"])
    r = await client_token(client, made["client_id"], made["client_secret"])
    assert r.status_code == 200
    assert r.json()["scope"] == "profiles:read referrals:read"
    # The list shows it, never its secret.
    r = await client.get(
        "/v1/admin/clients", params={"organisation_id": org["id"]}, headers=admin.headers
    )
    assert r.status_code == 200
    [listed] = r.json()["items"]
    assert listed["client_id"] == made["client_id"]
    assert "client_secret" not in listed
    assert made["client_secret"] not in r.text


async def test_two_secrets_are_never_alike(client: httpx.AsyncClient, admin: Actor) -> None:
    org = await _organisation(client, admin, "Org")
    a = await _new_client(client, admin, org["id"], "offers:write")
    b = await _new_client(client, admin, org["id"], "offers:write")
    assert a["client_secret"] != b["client_secret"]
    assert a["client_id"] != b["client_id"]


@pytest.mark.parametrize(
    "scopes", [[], ["self"], ["profiles:read", "self"], ["everything"], ["ADMIN"]]
)
async def test_create_client_bad_scopes_is_422(
    client: httpx.AsyncClient, admin: Actor, scopes: list[str]
) -> None:
    r = await client.post(
        "/v1/admin/clients",
        json={"organisation_id": str(admin.organisation_id), "name": "x", "scopes": scopes},
        headers=admin.headers,
    )
    assert r.status_code == 422
    problem(r)


async def test_create_client_unknown_organisation_is_422(
    client: httpx.AsyncClient, admin: Actor
) -> None:
    r = await client.post(
        "/v1/admin/clients",
        json={"organisation_id": str(uuid.uuid4()), "name": "x", "scopes": ["offers:write"]},
        headers=admin.headers,
    )
    assert r.status_code == 422
    assert problem(r)["errors"][0]["loc"] == ["body", "organisation_id"]


async def test_rotate_secret(client: httpx.AsyncClient, admin: Actor, actors: Actors) -> None:
    partner = await actors.client("profiles:read")
    r = await client.post(
        f"/v1/admin/clients/{partner.client_id}/rotate-secret", headers=admin.headers
    )
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"client_id", "client_secret"}
    assert body["client_id"] == partner.client_id
    assert body["client_secret"] != partner.client_secret
    old = await client_token(client, partner.client_id, partner.client_secret)
    assert old.status_code == 401
    new = await client_token(client, partner.client_id, body["client_secret"])
    assert new.status_code == 200


async def test_unknown_client_is_404(client: httpx.AsyncClient, admin: Actor) -> None:
    for action in ("rotate-secret", "disable"):
        r = await client.post(f"/v1/admin/clients/onw_nobody/{action}", headers=admin.headers)
        assert r.status_code == 404
        problem(r)


async def test_disabled_client_tokens_are_refused_on_the_next_request(
    client: httpx.AsyncClient, admin: Actor, actors: Actors
) -> None:
    other_admin = await actors.client("admin", kind="operator")
    assert (await client.get("/v1/admin/clients", headers=other_admin.headers)).status_code == 200
    r = await client.post(
        f"/v1/admin/clients/{other_admin.client_id}/disable", headers=admin.headers
    )
    assert r.status_code == 200
    assert r.json() == {"client_id": other_admin.client_id, "active": False}
    refused = await client.get("/v1/admin/clients", headers=other_admin.headers)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    # Disabling twice is harmless, and the list shows it inactive.
    again = await client.post(
        f"/v1/admin/clients/{other_admin.client_id}/disable", headers=admin.headers
    )
    assert again.status_code == 200
    listed = (
        await client.get(
            "/v1/admin/clients",
            params={"organisation_id": str(other_admin.organisation_id)},
            headers=admin.headers,
        )
    ).json()["items"]
    assert [c["active"] for c in listed] == [False]


@pytest.mark.committed
async def test_disable_holds_across_replicas(
    committed_client: httpx.AsyncClient,
    committed_app: FastAPI,
    committed_actors: Actors,
    settings: Any,
) -> None:
    """Two app instances on one database: disabling on one is seen by the other at once."""
    from app.main import create_app

    admin = await committed_actors.client("admin", kind="operator")
    victim = await committed_actors.client("admin", kind="operator")
    replica = create_app(settings, database=committed_app.state.db)
    async with replica.router.lifespan_context(replica):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=replica), base_url="http://testserver"
        ) as other:
            # The replica shares our keys in the test settings' data dir.
            assert (await other.get("/v1/admin/clients", headers=victim.headers)).status_code == 200
            r = await committed_client.post(
                f"/v1/admin/clients/{victim.client_id}/disable", headers=admin.headers
            )
            assert r.status_code == 200
            assert (await other.get("/v1/admin/clients", headers=victim.headers)).status_code == 401


# --- public look-ups -----------------------------------------------------------------------


async def test_public_organisation_lookup(client: httpx.AsyncClient, admin: Actor) -> None:
    org = await _organisation(client, admin, "Oxford Foodbank", "provider")
    r = await client.get(f"/v1/organisations/{org['id']}")
    assert r.status_code == 200
    assert r.json() == {"id": org["id"], "name": "Oxford Foodbank", "kind": "provider"}
    for missing in (str(uuid.uuid4()), "not-a-uuid", "1"):
        r = await client.get(f"/v1/organisations/{missing}")
        assert r.status_code == 404
        problem(r)


async def test_public_organisation_search(client: httpx.AsyncClient, admin: Actor) -> None:
    tag = uuid.uuid4().hex[:6]
    a = await _organisation(client, admin, f"Slough {tag} Mind", "provider")
    b = await _organisation(client, admin, f"slough {tag} works", "partner")
    await _organisation(client, admin, f"Reading {tag}_x", "partner")
    r = await client.get("/v1/organisations", params={"q": f"SLOUGH {tag.upper()}"})
    assert r.status_code == 200
    page = r.json()
    assert page["next_cursor"] is None
    assert page["items"] == [
        {"id": b["id"], "name": f"slough {tag} works", "kind": "partner"},
        {"id": a["id"], "name": f"Slough {tag} Mind", "kind": "provider"},
    ]
    # LIKE wildcards in q are plain characters.
    assert (await client.get("/v1/organisations", params={"q": f"{tag}%"})).json()["items"] == []
    underscore = (await client.get("/v1/organisations", params={"q": f"{tag}_x"})).json()
    assert [o["name"] for o in underscore["items"]] == [f"Reading {tag}_x"]
    assert (await client.get("/v1/organisations", params={"q": "x" * 201})).status_code == 422


# --- the CLI --------------------------------------------------------------------------------


@pytest.fixture
def onward(
    db: Database, settings: Any
) -> Callable[..., Awaitable[tuple[int, dict[str, Any] | None, str]]]:
    """Run ``onward <args>`` against the test's database; (exit code, JSON out, stderr)."""
    import contextlib
    import io

    async def run(*argv: str) -> tuple[int, dict[str, Any] | None, str]:
        loop = asyncio.get_running_loop()

        # The jobs are coroutine functions (run_coroutine_threadsafe takes nothing else).
        def with_db(fn: Callable[[Database, Any], Coroutine[Any, Any, Any]]) -> Any:
            return asyncio.run_coroutine_threadsafe(fn(db, settings), loop).result()

        parser = argparse.ArgumentParser(prog="onward")
        sub = parser.add_subparsers(dest="command", required=True)
        add_admin_commands(sub, with_db)
        args = parser.parse_args(list(argv))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code: int = await asyncio.to_thread(args.func, args)
        text = out.getvalue()
        return code, (json.loads(text) if text else None), err.getvalue()

    return run


async def test_cli_helpers(
    onward: Callable[..., Awaitable[tuple[int, dict[str, Any] | None, str]]],
    client: httpx.AsyncClient,
) -> None:
    code, org, _ = await onward(
        "create-organisation", "--name", "HMP Bullingdon", "--kind", "establishment"
    )
    assert code == 0
    assert org is not None
    assert org["kind"] == "establishment"
    code, made, _ = await onward(
        "create-client",
        "--organisation-id",
        org["id"],
        "--name",
        "Kiosk",
        "--scope",
        "profiles:create",
        "--scope",
        "admin",
    )
    assert code == 0
    assert made is not None
    assert made["scopes"] == ["admin", "profiles:create"]
    token = await client_token(client, made["client_id"], made["client_secret"])
    assert token.status_code == 200

    code, rotated, _ = await onward("rotate-secret", made["client_id"])
    assert code == 0
    assert rotated is not None
    assert rotated["client_id"] == made["client_id"]
    assert (await client_token(client, made["client_id"], made["client_secret"])).status_code == 401
    access = (await client_token(client, made["client_id"], rotated["client_secret"])).json()

    code, disabled, _ = await onward("disable-client", made["client_id"])
    assert code == 0
    assert disabled == {"client_id": made["client_id"], "active": False}
    r = await client.get("/v1/admin/clients", headers=bearer(access["access_token"]))
    assert r.status_code == 401

    code, out, err = await onward("disable-client", "onw_nobody")
    assert code == 1
    assert out is None
    assert json.loads(err) == {"error": "No such client"}
    code, out, err = await onward(
        "create-client",
        "--organisation-id",
        str(uuid.uuid4()),
        "--name",
        "x",
        "--scope",
        "offers:write",
    )
    assert code == 1
    assert "error" in json.loads(err)


async def test_bootstrap_admin_is_made_once_and_follows_the_environment(
    settings: Any, db: Database
) -> None:
    from app.main import create_app

    client_id = "onw_boot_" + uuid.uuid4().hex[:6]
    first = settings.model_copy(
        update={
            "bootstrap_admin_client_id": client_id,
            "bootstrap_admin_client_secret": _secret("first-secret-long-enough-000"),
        }
    )
    second = settings.model_copy(
        update={
            "bootstrap_admin_client_id": client_id,
            "bootstrap_admin_client_secret": _secret("second-secret-long-enough-00"),
        }
    )
    for cfg in (first, second):
        app = create_app(cfg, database=db)
        async with app.router.lifespan_context(app):
            pass
    async with db.sessionmaker() as session:
        rows = (await session.scalars(select(Client).where(Client.client_id == client_id))).all()
    assert len(rows) == 1
    assert rows[0].scopes == ["admin"]
    assert rows[0].secret_hash == hash_secret("second-secret-long-enough-00")
    app = create_app(second, database=db)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as c:
            r = await c.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                headers=basic(client_id, "second-secret-long-enough-00"),
            )
            assert r.status_code == 200
            assert r.json()["scope"] == "admin"


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


# --- disabling an organisation ---------------------------------------------------------


async def test_disabling_an_organisation_refuses_all_its_clients_from_the_next_request(
    client: httpx.AsyncClient, app: FastAPI, admin: Actor, actors: Actors, settings: Any
) -> None:
    from app.main import create_app

    reader = await actors.client("profiles:read", "referrals:read", kind="partner")
    second = await actors.client("referrals:read", organisation_id=reader.organisation_id)
    bystander = await actors.client("referrals:read", kind="partner")
    for actor in (reader, second, bystander):
        assert (await client.get("/v1/referrals", headers=actor.headers)).status_code == 200

    r = await client.post(
        f"/v1/admin/organisations/{reader.organisation_id}/disable", headers=admin.headers
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"id": str(reader.organisation_id), "active": False}

    # Every client of it, on this app and on another replica sharing the database ...
    replica = create_app(settings, database=app.state.db)
    async with replica.router.lifespan_context(replica):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=replica), base_url="http://testserver"
        ) as other:
            for c in (client, other):
                for actor in (reader, second):
                    refused = await c.get("/v1/referrals", headers=actor.headers)
                    assert refused.status_code == 401, refused.text
                    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
                # ... the partner read too (liveness checked in its own statement) ...
                read = await c.get(f"/v1/profiles/{uuid.uuid4()}", headers=reader.headers)
                assert read.status_code == 401
                # ... while other organisations are untouched.
                ok = await c.get("/v1/referrals", headers=bystander.headers)
                assert ok.status_code == 200
    # Its secrets get no new token.
    token = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(reader.client_id, reader.client_secret),
    )
    assert token.status_code == 401
    assert token.json()["error"] == "invalid_client"
    # The list says so; disabling twice is harmless.
    again = await client.post(
        f"/v1/admin/organisations/{reader.organisation_id}/disable", headers=admin.headers
    )
    assert again.status_code == 200
    listed = (await client.get("/v1/admin/organisations?limit=100", headers=admin.headers)).json()
    by_id = {o["id"]: o for o in listed["items"]}
    assert by_id[str(reader.organisation_id)]["active"] is False
    assert by_id[str(bystander.organisation_id)]["active"] is True


async def test_disabling_an_unknown_organisation_is_404(
    client: httpx.AsyncClient, admin: Actor, actors: Actors
) -> None:
    for unknown in (str(uuid.uuid4()), "not-a-uuid"):
        r = await client.post(f"/v1/admin/organisations/{unknown}/disable", headers=admin.headers)
        assert r.status_code == 404
        problem(r)
    partner = await actors.client("profiles:read", kind="partner")
    r = await client.post(
        f"/v1/admin/organisations/{partner.organisation_id}/disable", headers=partner.headers
    )
    assert r.status_code == 403


async def test_a_new_organisation_is_active(client: httpx.AsyncClient, admin: Actor) -> None:
    made = await _organisation(client, admin, "Thames Valley Partnership", "partner")
    assert made["active"] is True


async def test_disable_organisation_on_the_command_line(
    onward: Callable[..., Awaitable[tuple[int, dict[str, Any] | None, str]]], actors: Actors
) -> None:
    partner = await actors.client("profiles:read", kind="partner")
    code, out, _ = await onward("disable-organisation", str(partner.organisation_id))
    assert code == 0
    assert out == {"id": str(partner.organisation_id), "active": False}
    code, out, err = await onward("disable-organisation", str(uuid.uuid4()))
    assert code == 1
    assert "error" in json.loads(err)


async def test_bootstrap_never_re_enables_a_client_an_operator_disabled(
    settings: Any, db: Database
) -> None:
    from app.main import create_app

    client_id = "onw_boot_" + uuid.uuid4().hex[:6]
    secret = "bootstrap-secret-long-enough-0"
    cfg = settings.model_copy(
        update={
            "bootstrap_admin_client_id": client_id,
            "bootstrap_admin_client_secret": _secret(secret),
        }
    )
    app = create_app(cfg, database=db)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as c:
            issued = await client_token(c, client_id, secret)
            assert issued.status_code == 200
            r = await c.post(
                f"/v1/admin/clients/{client_id}/disable",
                headers=bearer(issued.json()["access_token"]),
            )
            assert r.status_code == 200
    # A restart with the same environment: the client stays disabled.
    app = create_app(cfg, database=db)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as c:
            r = await c.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                headers=basic(client_id, secret),
            )
            assert r.status_code == 401
    async with db.sessionmaker() as session:
        row = await session.get(Client, client_id)
    assert row is not None
    assert row.active is False
