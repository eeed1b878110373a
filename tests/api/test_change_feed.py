"""The change feed (API.md §9): exactly the caller's changes, oldest first, no skips.

The feed only shows committed work, so these tests use the committed app (each request
its own pooled connection and a real commit) and their own organisations.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.consent_helpers import grant, make_leaver
from tests.support import Actor, Actors

pytestmark = pytest.mark.committed


async def _feed(
    client: httpx.AsyncClient, partner: Actor, cursor: str | None = None, limit: int = 100
) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    if cursor is not None:
        params["cursor"] = cursor
    r = await client.get("/v1/profiles/changes", params=params, headers=partner.headers)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body: dict[str, Any] = r.json()
    return body


async def _drain(
    client: httpx.AsyncClient, partner: Actor, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    items: list[dict[str, Any]] = []
    while True:
        page = await _feed(client, partner, cursor, limit=7)
        items += page["items"]
        cursor = page["next_cursor"]
        if not page["items"]:
            return items, cursor


async def test_shared_updated_unshared_for_exactly_what_the_caller_sees(
    committed_client: httpx.AsyncClient, committed_actors: Actors
) -> None:
    client, actors = committed_client, committed_actors
    partner = await actors.client("profiles:read")
    other = await actors.client("profiles:read")
    leaver = await make_leaver(client, actors)
    assert await _feed(client, partner) == {"items": [], "next_cursor": None}

    first = await grant(client, leaver, partner.organisation_id, ["contact.phone"])
    await grant(client, leaver, other.organisation_id, ["identity"])
    # An edit of something the partner was not given: nothing for it.
    own = await client.get("/v1/me", headers=leaver.headers)
    await client.patch(
        "/v1/me",
        json={"identity": {"pronouns": "he/him"}},
        headers={**leaver.headers, "If-Match": own.headers["etag"]},
    )
    # An edit of a shared field, a second grant, its end, the last grant's end.
    own = await client.get("/v1/me", headers=leaver.headers)
    await client.patch(
        "/v1/me",
        json={"contact": {"phone": "07700 900777"}},
        headers={**leaver.headers, "If-Match": own.headers["etag"]},
    )
    second = await grant(client, leaver, partner.organisation_id, ["release.area"])
    await client.post(f"/v1/me/consents/{second['id']}/revoke", headers=leaver.headers)
    await client.post(f"/v1/me/consents/{first['id']}/revoke", headers=leaver.headers)

    items, cursor = await _drain(client, partner, None)
    assert [i["type"] for i in items] == ["shared", "updated", "updated", "updated", "unshared"]
    assert {i["profile_id"] for i in items} == {leaver.id}
    assert set(items[0]) == {"id", "at", "type", "profile_id"}  # no personal data
    assert "07700" not in str(items)
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)
    # The other organisation sees only its own: the share, and the pronouns it was given.
    assert [i["type"] for i in (await _feed(client, other))["items"]] == ["shared", "updated"]
    # Polling on from the end: nothing new, the same cursor back.
    assert await _feed(client, partner, cursor) == {"items": [], "next_cursor": cursor}
    # Reading the feed wrote no access event.
    log = (await client.get("/v1/me/access-log", headers=leaver.headers)).json()["items"]
    assert log == []


async def test_feed_needs_the_scope_and_a_valid_cursor(
    committed_client: httpx.AsyncClient, committed_actors: Actors
) -> None:
    client, actors = committed_client, committed_actors
    writer = await actors.client("offers:write", kind="provider")
    r = await client.get("/v1/profiles/changes", headers=writer.headers)
    assert r.status_code == 403
    assert (await client.get("/v1/profiles/changes")).status_code == 401
    partner = await actors.client("profiles:read")
    bad = await client.get("/v1/profiles/changes?cursor=abc", headers=partner.headers)
    assert bad.status_code == 422
    # A cursor of another list is not a feed cursor.
    listed = await client.get("/v1/profiles?limit=1", headers=partner.headers)
    assert listed.status_code == 200


async def test_a_slow_transaction_never_lets_a_cursor_skip_its_item(
    committed_client: httpx.AsyncClient, committed_actors: Actors, engine: AsyncEngine
) -> None:
    """Sequence order is not commit order: a row inserted first and committed last must
    still be delivered, after a later row was committed and a cursor handed out."""
    client, actors = committed_client, committed_actors
    partner = await actors.client("profiles:read")
    leaver = await make_leaver(client, actors)
    await grant(client, leaver, partner.organisation_id, ["contact.email"])
    seen, cursor = await _drain(client, partner, None)
    assert [i["type"] for i in seen] == ["shared"]

    slow_id = uuid.uuid4()
    async with engine.connect() as slow:
        transaction = await slow.begin()
        # The slow writer inserts its change first (it gets the lower seq)...
        await slow.execute(
            text(
                "INSERT INTO profile_changes (id, organisation_id, profile_id, type, at) "
                "VALUES (:id, :org, :pid, 'updated', now())"
            ),
            {"id": slow_id, "org": partner.organisation_id, "pid": leaver.id},
        )
        # ...a fast writer commits a change after it...
        await grant(client, leaver, partner.organisation_id, ["release.area"])
        # ...and a reader polls meanwhile: it must not pass the slow row by.
        during, cursor = await _drain(client, partner, cursor)
        assert during == []
        await transaction.commit()
    after, cursor = await _drain(client, partner, cursor)
    assert after[0]["id"] == str(slow_id)
    assert [i["type"] for i in after] == ["updated", "updated"]


async def test_concurrent_writers_and_a_polling_reader_see_every_item_once(
    committed_client: httpx.AsyncClient, committed_actors: Actors, engine: AsyncEngine
) -> None:
    client, actors = committed_client, committed_actors
    partner = await actors.client("profiles:read")
    leavers = [await make_leaver(client, actors) for _ in range(6)]
    done = asyncio.Event()
    read: list[dict[str, Any]] = []

    async def writer(leaver: Any) -> None:
        for fields in (["contact.phone"], ["identity.given_name"], ["release.area"]):
            await grant(client, leaver, partner.organisation_id, fields)

    async def reader() -> None:
        cursor = None
        while not done.is_set():
            page = await _feed(client, partner, cursor, limit=5)
            read.extend(page["items"])
            cursor = page["next_cursor"]
            await asyncio.sleep(0)
        rest, _ = await _drain(client, partner, cursor)
        read.extend(rest)

    polling = asyncio.create_task(reader())
    await asyncio.gather(*(writer(leaver) for leaver in leavers))
    done.set()
    await polling
    async with engine.connect() as conn:
        stored = (
            await conn.execute(
                text("SELECT id::text FROM profile_changes WHERE organisation_id = :org"),
                {"org": partner.organisation_id},
            )
        ).scalars()
        expected = set(stored)
    ids = [i["id"] for i in read]
    assert len(ids) == len(set(ids)), "an item was repeated"
    assert set(ids) == expected, "an item was skipped"
    assert len(ids) == 18  # each leaver: shared, updated, updated


async def test_an_expiry_reaches_the_feed_through_the_sweep_not_a_read(
    committed_client: httpx.AsyncClient, committed_actors: Actors, committed_app: FastAPI
) -> None:
    from datetime import UTC, datetime, timedelta

    from app.consent.cuts import refresh_due

    client, actors = committed_client, committed_actors
    partner = await actors.client("profiles:read")
    leaver = await make_leaver(client, actors)
    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    made = await grant(
        client, leaver, partner.organisation_id, ["contact.phone"], expires_at=soon.isoformat()
    )
    items, cursor = await _drain(client, partner, None)
    assert [i["type"] for i in items] == ["shared"]
    await asyncio.sleep(2)
    # Nobody reads the profile; the background sweep (run here by hand) finds the expiry.
    assert await refresh_due(committed_app.state.db.sessionmaker) >= 1
    items, cursor = await _drain(client, partner, cursor)
    assert [i["type"] for i in items] == ["unshared"]
    assert datetime.fromisoformat(items[0]["at"]) == datetime.fromisoformat(made["expires_at"])
    # A second sweep (another replica) changes nothing.
    await refresh_due(committed_app.state.db.sessionmaker)
    assert (await _feed(client, partner, cursor))["items"] == []
