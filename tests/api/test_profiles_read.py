"""Partner reads: exactly what was granted, to whom it was granted, and always recorded."""

from __future__ import annotations

import itertools
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import Row, text

from app.consent.catalogue import expand
from app.db import Database
from tests.api.consent_helpers import (
    full_document,
    grant,
    leaves_of,
    make_leaver,
    revoke,
    sentinels_by_leaf,
)
from tests.conftest import problem
from tests.support import Actors

SENTINEL = re.compile(r"SENTINEL[A-Za-z0-9]*-[a-z-]+", re.IGNORECASE)


def sentinels_in(text_: str) -> set[str]:
    return set(SENTINEL.findall(text_))


async def events_for(db: Database, profile_id: str) -> list[Row[Any]]:
    async with db.sessionmaker() as session:
        return list(
            (
                await session.execute(
                    text(
                        "SELECT organisation_id, client_id, action, fields, grant_ids "
                        "FROM access_events WHERE profile_id = :p ORDER BY seq"
                    ),
                    {"p": profile_id},
                )
            ).all()
        )


async def test_read_discloses_exactly_the_granted_leaves(
    client: httpx.AsyncClient, actors: Actors, db: Database
) -> None:
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    g1 = await grant(client, leaver, partner.organisation_id, ["contact"])
    g2 = await grant(
        client,
        leaver,
        partner.organisation_id,
        ["identity.given_name", "needs.health"],
        explicit=True,
        purpose="case_coordination",
    )
    response = await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"id", "data", "disclosed_fields", "grant_ids", "version", "updated_at"}
    expected = {
        "contact.phone",
        "contact.email",
        "contact.address",
        "contact.preferred_method",
        "contact.best_times",
        "identity.given_name",
        "needs.health",
    }
    assert leaves_of(body["data"]) == expected
    assert set(body["disclosed_fields"]) == expected
    assert set(body["data"]) == {"contact", "identity", "needs"}
    assert body["data"]["needs"]["health"] == {"level": "medium", "notes": "SENTINEL-health"}
    assert sorted(body["grant_ids"]) == sorted([g1["id"], g2["id"]])
    # The organisation's cut: the first grant made it version 1, the second version 2.
    assert body["version"] == 2
    assert body["updated_at"].endswith("Z")
    # Sentinels: only the granted ones appear anywhere in the response.
    assert sentinels_in(response.text) == {
        "SENTINEL-given",
        "SENTINEL-address",
        "SENTINEL-best-times",
        "SENTINEL-health",
    }
    # ... and the read is in the access log, with what was disclosed and under which grants.
    (event,) = await events_for(db, leaver.id)
    assert event.organisation_id == partner.organisation_id
    assert event.client_id == partner.client_id
    assert event.action == "profile.read"
    assert set(event.fields) == expected
    assert sorted(map(str, event.grant_ids)) == sorted([g1["id"], g2["id"]])


@pytest.mark.parametrize(
    "fields",
    [
        ["contact.phone"],
        ["identity"],
        ["release", "preferences"],
        ["plan"],
        ["progress"],
        ["needs.accommodation", "identity.gender"],
    ],
)
async def test_sentinels_of_unshared_leaves_never_appear(
    client: httpx.AsyncClient, actors: Actors, fields: list[str]
) -> None:
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    await grant(client, leaver, partner.organisation_id, fields, explicit=fields == ["progress"])
    one = await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)
    listed = await client.get("/v1/profiles", headers=partner.headers)
    shared = expand(fields)
    by_leaf = sentinels_by_leaf(full_document())
    for response in (one, listed):
        assert response.status_code == 200
        for leaf, values in by_leaf.items():
            for value in values:
                assert (value in response.text) is (leaf in shared), (leaf, fields)
    assert leaves_of(one.json()["data"]) == set(one.json()["disclosed_fields"])
    assert set(one.json()["disclosed_fields"]) <= shared


async def test_section_grant_on_an_empty_section_discloses_no_keys(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    leaver = await make_leaver(client, actors, data={"contact": {"phone": "01189 000000"}})
    partner = await actors.client("profiles:read")
    await grant(
        client,
        leaver,
        partner.organisation_id,
        ["identity", "contact.phone", "story"],
        explicit=True,
    )
    body = (await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)).json()
    assert body["data"] == {"contact": {"phone": "01189 000000"}}
    assert body["disclosed_fields"] == ["contact.phone"]


async def test_no_grant_is_404_identical_to_a_missing_profile(
    client: httpx.AsyncClient, actors: Actors, db: Database
) -> None:
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    other = await actors.client("profiles:read")
    await grant(client, leaver, other.organisation_id, ["contact"])
    ungranted = await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)
    missing = await client.get(f"/v1/profiles/{uuid.uuid4()}", headers=partner.headers)
    malformed = await client.get("/v1/profiles/ONW-1234-5678", headers=partner.headers)
    assert ungranted.status_code == missing.status_code == malformed.status_code == 404
    assert ungranted.json() == missing.json() == malformed.json()
    assert ungranted.headers["content-type"] == missing.headers["content-type"]
    assert "SENTINEL" not in ungranted.text
    assert await events_for(db, leaver.id) == []


async def test_revoked_and_expired_grants_disclose_nothing_from_the_next_request(
    client: httpx.AsyncClient, actors: Actors, db: Database
) -> None:
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    contact = await grant(client, leaver, partner.organisation_id, ["contact"])
    identity = await grant(client, leaver, partner.organisation_id, ["identity"])
    assert (
        await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)
    ).status_code == 200
    await revoke(client, leaver, contact["id"])
    body = (await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)).json()
    assert set(body["data"]) == {"identity"}
    assert body["grant_ids"] == [identity["id"]]
    async with db.sessionmaker() as session:
        await session.execute(
            text(
                "UPDATE consent_grants SET granted_at = now() - interval '2 days', "
                "expires_at = now() - interval '1 second' WHERE id = :id"
            ),
            {"id": identity["id"]},
        )
        await session.commit()
    assert (
        await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)
    ).status_code == 404
    listed = (await client.get("/v1/profiles", headers=partner.headers)).json()
    assert leaver.id not in [p["id"] for p in listed["items"]]


async def test_a_read_that_cannot_be_recorded_fails_with_503(
    client: httpx.AsyncClient, actors: Actors, db: Database
) -> None:
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    await grant(client, leaver, partner.organisation_id, ["contact", "identity"])
    # Make the access log refuse inserts, inside this test's rolled-back transaction.
    async with db.sessionmaker() as session:
        await session.execute(
            text(
                "CREATE FUNCTION pg_temp.refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
            )
        )
        await session.execute(
            text(
                "CREATE TRIGGER refuse_reads BEFORE INSERT ON access_events "
                "FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse()"
            )
        )
        await session.commit()
    for path in (f"/v1/profiles/{leaver.id}", "/v1/profiles"):
        response = await client.get(path, headers=partner.headers)
        assert response.status_code == 503
        problem(response)
        assert "SENTINEL" not in response.text
        assert "disk full" not in response.text


async def test_cross_organisation_and_cross_leaver_authorisation(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    """Two organisations, two leavers: each sees only what was shared with it."""
    org_a = await actors.client("profiles:read")
    org_b = await actors.client("profiles:read")
    leaver_1 = await make_leaver(client, actors)
    leaver_2 = await make_leaver(client, actors)
    grants = {
        (leaver_1.id, org_a.organisation_id): await grant(
            client, leaver_1, org_a.organisation_id, ["contact"]
        ),
        (leaver_2.id, org_b.organisation_id): await grant(
            client, leaver_2, org_b.organisation_id, ["identity"]
        ),
    }
    for leaver, org in itertools.product((leaver_1, leaver_2), (org_a, org_b)):
        shared = (leaver.id, org.organisation_id) in grants
        read = await client.get(f"/v1/profiles/{leaver.id}", headers=org.headers)
        assert read.status_code == (200 if shared else 404), (leaver.id, org.organisation_id)
        listed = (await client.get("/v1/profiles?limit=100", headers=org.headers)).json()
        assert (leaver.id in [p["id"] for p in listed["items"]]) is shared
    # A leaver cannot revoke (or see) another leaver's grant.
    theirs = grants[(leaver_2.id, org_b.organisation_id)]["id"]
    assert (await revoke(client, leaver_1, theirs)).status_code == 404
    mine = (await client.get("/v1/me/consents", headers=leaver_1.headers)).json()
    assert theirs not in [g["id"] for g in mine["items"]]
    assert (
        await client.get(f"/v1/profiles/{leaver_2.id}", headers=org_b.headers)
    ).status_code == 200
    # Revoking one's own grant affects only that organisation.
    assert (
        await revoke(client, leaver_1, grants[(leaver_1.id, org_a.organisation_id)]["id"])
    ).status_code == 200
    assert (
        await client.get(f"/v1/profiles/{leaver_1.id}", headers=org_a.headers)
    ).status_code == 404
    assert (
        await client.get(f"/v1/profiles/{leaver_2.id}", headers=org_b.headers)
    ).status_code == 200


async def test_a_second_client_of_the_same_organisation_sees_the_same(
    client: httpx.AsyncClient, actors: Actors, db: Database
) -> None:
    leaver = await make_leaver(client, actors)
    first = await actors.client("profiles:read")
    second = await actors.client("profiles:read", organisation_id=first.organisation_id)
    await grant(client, leaver, first.organisation_id, ["contact.phone"])
    response = await client.get(f"/v1/profiles/{leaver.id}", headers=second.headers)
    assert response.json()["data"] == {"contact": {"phone": "07700 900123"}}
    (event,) = await events_for(db, leaver.id)
    assert event.client_id == second.client_id


async def test_list_pages_filters_and_records_one_event_per_profile(
    client: httpx.AsyncClient, actors: Actors, db: Database
) -> None:
    partner = await actors.client("profiles:read")
    leavers = [await make_leaver(client, actors, data=full_document(str(i))) for i in range(3)]
    for leaver in leavers:
        await grant(client, leaver, partner.organisation_id, ["identity.given_name"])
    # The newest update first: patch a shared leaf of the first leaver so it moves to
    # the front (an unshared leaf would not move it: see test_partner_cut_versions).
    await client.patch(
        "/v1/me",
        json={"identity": {"given_name": "Renamed"}},
        headers={**leavers[0].headers, "If-Match": '"1"'},
    )
    first = await client.get("/v1/profiles?limit=2", headers=partner.headers)
    assert first.status_code == 200
    page1 = first.json()
    assert [p["id"] for p in page1["items"]] == [leavers[0].id, leavers[2].id]
    page2 = (
        await client.get(
            f"/v1/profiles?limit=2&cursor={page1['next_cursor']}", headers=partner.headers
        )
    ).json()
    assert [p["id"] for p in page2["items"]] == [leavers[1].id]
    assert page2["next_cursor"] is None
    assert page1["items"][0]["data"] == {"identity": {"given_name": "Renamed"}}
    assert page1["items"][0]["version"] == 2
    for leaver in leavers:
        events = await events_for(db, leaver.id)
        assert len(events) == 1
        assert events[0].fields == ["identity.given_name"]
    since = page1["items"][0]["updated_at"]
    recent = (
        await client.get("/v1/profiles", params={"updated_since": since}, headers=partner.headers)
    ).json()
    assert [p["id"] for p in recent["items"]] == [leavers[0].id]
    assert (await client.get("/v1/profiles?limit=101", headers=partner.headers)).status_code == 422
    assert (await client.get("/v1/profiles?cursor=abc", headers=partner.headers)).status_code == 422
    assert (
        await client.get("/v1/profiles?updated_since=2026-01-01T00:00:00", headers=partner.headers)
    ).status_code == 422


async def test_partner_reads_need_the_scope(client: httpx.AsyncClient, actors: Actors) -> None:
    leaver = await make_leaver(client, actors)
    writer = await actors.client("offers:write", kind="provider")
    await grant(client, leaver, writer.organisation_id, ["contact"])
    response = await client.get(f"/v1/profiles/{leaver.id}", headers=writer.headers)
    assert response.status_code == 403
    assert 'scope="profiles:read"' in response.headers["www-authenticate"]
    assert (
        await client.get(f"/v1/profiles/{leaver.id}", headers=leaver.headers)
    ).status_code == 403
    assert (await client.get("/v1/profiles")).status_code == 401


async def test_partner_cut_versions_move_only_with_what_the_partner_sees(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    """API.md §3: version and updated_at describe the organisation's own cut."""
    leaver = await make_leaver(client, actors)
    partner = await actors.client("profiles:read")
    other = await actors.client("profiles:read")
    await grant(client, leaver, partner.organisation_id, ["contact.phone"])
    await grant(client, leaver, other.organisation_id, ["identity"])
    first = (await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)).json()
    assert first["version"] == 1

    async def patch(body: dict[str, object]) -> None:
        own = await client.get("/v1/me", headers=leaver.headers)
        r = await client.patch(
            "/v1/me", json=body, headers={**leaver.headers, "If-Match": own.headers["etag"]}
        )
        assert r.status_code == 200, r.text

    # The leaver edits a field this partner was never given: nothing moves for it...
    await patch({"identity": {"pronouns": "she/her"}, "story": {"summary": "Changed"}})
    same = (await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)).json()
    assert (same["version"], same["updated_at"]) == (first["version"], first["updated_at"])
    # ...while the organisation given identity sees its cut move.
    seen = (await client.get(f"/v1/profiles/{leaver.id}", headers=other.headers)).json()
    assert seen["version"] == 2
    # A shared leaf edited moves it; so does a grant added, and one ended.
    await patch({"contact": {"phone": "07700 900999"}})
    edited = (await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)).json()
    assert edited["version"] == 2
    assert edited["data"] == {"contact": {"phone": "07700 900999"}}
    extra = await grant(client, leaver, partner.organisation_id, ["release.area"])
    widened = (await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)).json()
    assert widened["version"] == 3
    assert extra["id"] in widened["grant_ids"]
    r = await client.post(f"/v1/me/consents/{extra['id']}/revoke", headers=leaver.headers)
    assert r.status_code == 200
    narrowed = (await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)).json()
    assert narrowed["version"] == 4
    assert narrowed["grant_ids"] == edited["grant_ids"]


async def test_a_profile_newly_shared_after_t_is_listed_by_updated_since_t(
    client: httpx.AsyncClient, actors: Actors
) -> None:
    partner = await actors.client("profiles:read")
    leaver = await make_leaver(client, actors)
    # The profile was created (and last edited) long before it is shared.
    await client.patch(
        "/v1/me",
        json={"contact": {"phone": "07700 900111"}},
        headers={**leaver.headers, "If-Match": '"1"'},
    )
    since = datetime.now(UTC)
    await grant(client, leaver, partner.organisation_id, ["contact.phone"])
    listed = (
        await client.get(
            "/v1/profiles",
            params={"updated_since": since.isoformat()},
            headers=partner.headers,
        )
    ).json()
    assert [p["id"] for p in listed["items"]] == [leaver.id]
    assert listed["items"][0]["data"] == {"contact": {"phone": "07700 900111"}}


async def test_an_expired_grant_stops_the_cut_at_once_and_moves_its_version(
    client: httpx.AsyncClient, actors: Actors, db: Database
) -> None:
    partner = await actors.client("profiles:read")
    leaver = await make_leaver(client, actors)
    lasting = await grant(client, leaver, partner.organisation_id, ["contact.phone"])
    brief = await grant(client, leaver, partner.organisation_id, ["contact.email"])
    before = (await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)).json()
    assert set(before["disclosed_fields"]) == {"contact.phone", "contact.email"}
    # The brief grant expires (moved into the past, as time passing would).
    async with db.sessionmaker() as session:
        await session.execute(
            text(
                "UPDATE consent_grants SET granted_at = now() - interval '2 days', "
                "expires_at = now() - interval '1 second' WHERE id = :id"
            ),
            {"id": brief["id"]},
        )
        # The cut was decided before, valid until the brief grant's expiry (the trigger
        # marked it stale on this UPDATE; put back what the earlier decision stored, so
        # the read meets a cut that lapsed on its own with no write at all).
        expired_at = (
            await session.execute(
                text(
                    "UPDATE disclosure_cuts AS c SET valid_until = g.expires_at "
                    "FROM consent_grants AS g WHERE g.id = :id "
                    "AND c.profile_id = g.profile_id AND c.organisation_id = g.organisation_id "
                    "RETURNING g.expires_at"
                ),
                {"id": brief["id"]},
            )
        ).scalar_one()
        await session.commit()
    after = (await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)).json()
    assert after["disclosed_fields"] == ["contact.phone"]
    assert after["grant_ids"] == [lasting["id"]]
    assert after["version"] == before["version"] + 1
    # The cut changed when the grant expired, not when someone next looked.
    assert datetime.fromisoformat(after["updated_at"]) == expired_at
    listed = (await client.get("/v1/profiles", headers=partner.headers)).json()["items"]
    assert [p["disclosed_fields"] for p in listed] == [["contact.phone"]]
