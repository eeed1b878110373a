"""GET /v1/me/access-log, and the access log's append-only guarantees in the database."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.db import Database
from tests.api.consent_helpers import grant, make_leaver
from tests.support import Actors


async def test_access_log_lists_who_saw_what_newest_first(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    leaver = await make_leaver(client, actors)
    housing = await actors.client("profiles:read", name="Reading Housing Trust")
    probation = await actors.client("profiles:read", name="Thames Valley Probation")
    g_housing = await grant(client, leaver, housing.organisation_id, ["contact.phone"])
    g_probation = await grant(client, leaver, probation.organisation_id, ["identity"])
    await client.get(f"/v1/profiles/{leaver.id}", headers=housing.headers)
    await client.get("/v1/profiles", headers=probation.headers)
    await client.get(f"/v1/profiles/{leaver.id}", headers=housing.headers)
    response = await client.get("/v1/me/access-log", headers=leaver.headers)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    items = response.json()["items"]
    assert response.json()["next_cursor"] is None
    assert [i["organisation"]["name"] for i in items] == [
        "Reading Housing Trust",
        "Thames Valley Probation",
        "Reading Housing Trust",
    ]
    newest = items[0]
    assert set(newest) == {
        "id",
        "at",
        "action",
        "organisation",
        "client_id",
        "fields",
        "grant_ids",
        "seal",
    }
    assert newest["seal"] is None  # not sealed yet: the sealer only takes settled events
    assert newest["action"] == "profile.read"
    assert newest["organisation"]["id"] == str(housing.organisation_id)
    assert newest["client_id"] == housing.client_id
    assert newest["fields"] == ["contact.phone"]
    assert newest["grant_ids"] == [g_housing["id"]]
    assert items[1]["grant_ids"] == [g_probation["id"]]
    assert items[0]["at"] >= items[1]["at"] >= items[2]["at"]


async def test_access_log_is_paginated_and_private(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    leaver = await make_leaver(client, actors)
    other = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    await grant(client, leaver, partner.organisation_id, ["contact"])
    for _ in range(5):
        await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/me/access-log", params=params, headers=leaver.headers)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    assert (await client.get("/v1/me/access-log", headers=other.headers)).json()["items"] == []
    assert (await client.get("/v1/me/access-log", headers=partner.headers)).status_code == 403
    bad = await client.get("/v1/me/access-log?cursor=eyJ4Ijox", headers=leaver.headers)
    assert bad.status_code == 422


async def _one_event(client: httpx.AsyncClient, actors: Actors) -> str:
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    await grant(client, leaver, partner.organisation_id, ["contact"])
    await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)
    return leaver.id


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE access_events SET fields = '{}' WHERE profile_id = :p",
        "DELETE FROM access_events WHERE profile_id = :p",
        "TRUNCATE access_events",
    ],
)
async def test_the_trigger_refuses_update_and_delete_even_for_the_owner(
    client: httpx.AsyncClient, actors: Actors, db: Database, statement: str
) -> None:
    profile_id = await _one_event(client, actors)
    async with db.sessionmaker() as session:
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(text(statement), {"p": profile_id})
        await session.rollback()
        count = await session.scalar(
            text("SELECT count(*) FROM access_events WHERE profile_id = :p"), {"p": profile_id}
        )
    assert count == 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE access_events SET fields = '{}' WHERE profile_id = :p",
        "DELETE FROM access_events WHERE profile_id = :p",
        "TRUNCATE access_events",
    ],
)
async def test_the_app_role_has_no_update_or_delete_privilege(
    client: httpx.AsyncClient, actors: Actors, db: Database, statement: str
) -> None:
    profile_id = await _one_event(client, actors)
    async with db.sessionmaker() as session:
        await session.execute(text("SET LOCAL ROLE onward_app"))
        with pytest.raises(DBAPIError, match="permission denied"):
            await session.execute(text(statement), {"p": profile_id})
        await session.rollback()


@pytest.mark.parametrize("table", ["profiles", "organisations"])
async def test_the_app_role_cannot_delete_what_events_point_at(
    client: httpx.AsyncClient, actors: Actors, db: Database, table: str
) -> None:
    """access_events has no foreign keys (migration 0005); privilege keeps it whole."""
    await _one_event(client, actors)
    async with db.sessionmaker() as session:
        await session.execute(text("SET LOCAL ROLE onward_app"))
        with pytest.raises(DBAPIError, match="permission denied"):
            await session.execute(text(f"DELETE FROM {table}"))
        await session.rollback()


@pytest.mark.parametrize(
    ("table", "column"), [("profiles", "profile_id"), ("organisations", "organisation_id")]
)
async def test_no_one_deletes_a_row_that_access_events_point_at(
    client: httpx.AsyncClient, actors: Actors, db: Database, table: str, column: str
) -> None:
    """Not even the owner (migration 0005's guard, in place of the foreign keys)."""
    profile_id = await _one_event(client, actors)
    async with db.sessionmaker() as session:
        target = await session.scalar(
            text(f"SELECT {column} FROM access_events WHERE profile_id = :p"), {"p": profile_id}
        )
        with pytest.raises(DBAPIError, match="has access events and cannot be deleted"):
            await session.execute(text(f"DELETE FROM {table} WHERE id = :id"), {"id": target})
        await session.rollback()


async def test_the_app_role_can_do_its_work(
    client: httpx.AsyncClient, actors: Actors, db: Database
) -> None:
    profile_id = await _one_event(client, actors)
    async with db.sessionmaker() as session:
        await session.execute(text("SET LOCAL ROLE onward_app"))
        assert (
            await session.scalar(
                text("SELECT count(*) FROM access_events WHERE profile_id = :p"), {"p": profile_id}
            )
            == 1
        )
        await session.execute(
            text(
                "INSERT INTO access_events (id, profile_id, action, fields, grant_ids) "
                "VALUES (gen_random_uuid(), :p, 'profile.read', '{}', '{}')"
            ),
            {"p": profile_id},
        )
        await session.execute(
            text("UPDATE profiles SET version = version WHERE id = :p"), {"p": profile_id}
        )
        await session.execute(
            text("UPDATE consent_grants SET revoked_at = now() WHERE profile_id = :p"),
            {"p": profile_id},
        )
        await session.rollback()
