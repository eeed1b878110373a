"""Stored disclosure cuts equal ``disclose()`` after any history (issue 12, item 1).

Random sequences of grants, revocations, expiries, profile edits and progress readings,
applied through the API to one leaver and three organisations. After every step, each
organisation's partner read (which serves the stored cut) and every stored cut that is
servable must equal ``consent.policy.disclose`` applied to the current document and the
current grants, at the current time: the write-side decision never drifts from the rule.

Expiry is time passing, not a write: it is simulated by moving every instant of the
profile's grants and cuts back by the same amount with triggers off (as if the clock had
moved on), so the read meets a cut that lapsed on its own.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from app.consent.catalogue import PATHS, sensitive_leaves
from app.consent.policy import GrantScope, disclose
from app.db import Database
from tests.api.consent_helpers import full_document, grant, make_leaver
from tests.support import Actor, Actors

ORGS = 2
GRANTABLE = sorted(PATHS)

grant_op = st.tuples(
    st.just("grant"),
    st.integers(0, ORGS - 1),
    st.lists(st.sampled_from(GRANTABLE), min_size=1, max_size=4, unique=True),
    st.booleans(),
    st.integers(1, 700),
)
revoke_op = st.tuples(st.just("revoke"), st.integers(0, 20))
expire_op = st.tuples(st.just("expire"), st.integers(0, 20))
edit_op = st.tuples(
    st.just("edit"),
    st.sampled_from(
        [
            {"contact": {"phone": "07700 900001"}},
            {"contact": {"phone": None, "email": "new@example.org"}},
            {"identity": {"given_name": "Changed"}},
            {"story": {"summary": "A new account"}},
            {"needs": {"health": {"level": "low", "notes": "better"}}},
            {"offence": None},
            {"release": {"area": "E06000039"}},
        ]
    ),
)
progress_op = st.tuples(st.just("progress"), st.integers(1, 10))
operations = st.lists(
    st.one_of(grant_op, revoke_op, expire_op, edit_op, progress_op), min_size=1, max_size=10
)


async def _state(db: Database, profile_id: str) -> tuple[dict[str, Any], list[Any], datetime]:
    async with db.sessionmaker() as session:
        now = (await session.execute(text("SELECT clock_timestamp()"))).scalar_one()
        document = (
            await session.execute(
                text("SELECT data FROM profiles WHERE id = :p"), {"p": profile_id}
            )
        ).scalar_one()
        grants = (
            await session.execute(
                text(
                    "SELECT id, organisation_id, fields, expires_at, revoked_at, explicit "
                    "FROM consent_grants WHERE profile_id = :p ORDER BY granted_at, id"
                ),
                {"p": profile_id},
            )
        ).all()
    return document, list(grants), now


def _expected(document: dict[str, Any], grants: list[Any], org: uuid.UUID, now: datetime) -> Any:
    scopes = [
        GrantScope(g.id, tuple(g.fields), g.expires_at, g.revoked_at, g.explicit)
        for g in grants
        if g.organisation_id == org
    ]
    return disclose(document, scopes, now)


async def _check(
    client: httpx.AsyncClient, db: Database, leaver_id: str, partners: list[Actor]
) -> None:
    for partner in partners:
        response = await client.get(f"/v1/profiles/{leaver_id}", headers=partner.headers)
        document, grants, now = await _state(db, leaver_id)
        expected = _expected(document, grants, partner.organisation_id, now)
        if not expected.grant_ids:
            assert response.status_code == 404, response.text
            continue
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["data"] == expected.data
        assert body["disclosed_fields"] == expected.fields
        assert body["grant_ids"] == [str(g) for g in expected.grant_ids]
    # Every servable stored cut (not only those just read) equals the rule.
    document, grants, now = await _state(db, leaver_id)
    async with db.sessionmaker() as session:
        stored = (
            await session.execute(
                text(
                    "SELECT organisation_id, data, fields, grant_ids FROM disclosure_cuts "
                    "WHERE profile_id = :p AND valid_until > :now "
                    "AND cardinality(grant_ids) > 0"
                ),
                {"p": leaver_id, "now": now},
            )
        ).all()
    for row in stored:
        expected = _expected(document, grants, row.organisation_id, now)
        assert (row.data, list(row.fields), list(row.grant_ids)) == (
            expected.data,
            expected.fields,
            expected.grant_ids,
        )


async def _expire(db: Database, profile_id: str, grant_id: uuid.UUID) -> None:
    """The clock moves on until this grant has expired.

    Simulated by moving every instant of the profile's grants and cuts back by the same
    amount, with triggers off: no write the triggers would see, exactly as if time passed.
    """
    async with db.sessionmaker() as session:
        await session.execute(text("SET LOCAL session_replication_role = replica"))
        delta = (
            await session.execute(
                text(
                    "SELECT expires_at - clock_timestamp() + interval '1 millisecond' "
                    "FROM consent_grants WHERE id = :g AND expires_at > clock_timestamp()"
                ),
                {"g": grant_id},
            )
        ).scalar_one_or_none()
        if delta is not None:
            await session.execute(
                text(
                    "UPDATE consent_grants SET granted_at = granted_at - CAST(:d AS interval), "
                    "expires_at = expires_at - CAST(:d AS interval), "
                    "revoked_at = revoked_at - CAST(:d AS interval) "
                    "WHERE profile_id = :p"
                ),
                {"d": delta, "p": profile_id},
            )
            await session.execute(
                text(
                    "UPDATE disclosure_cuts SET valid_until = valid_until - CAST(:d AS interval), "
                    "updated_at = updated_at - CAST(:d AS interval) WHERE profile_id = :p"
                ),
                {"d": delta, "p": profile_id},
            )
        await session.commit()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
async def test_stored_cuts_equal_disclose_after_any_history(
    client: httpx.AsyncClient, actors: Actors, db: Database, ops: list[tuple[Any, ...]]
) -> None:
    if not hasattr(actors, "_partners"):
        actors._partners = [await actors.client("profiles:read") for _ in range(ORGS)]  # type: ignore[attr-defined]
    partners: list[Actor] = actors._partners  # type: ignore[attr-defined]
    leaver = await make_leaver(client, actors, data=full_document())
    grant_ids: list[uuid.UUID] = []
    for op in ops:
        kind = op[0]
        if kind == "grant":
            _, org, fields, explicit, days = op
            explicit = explicit or bool(sensitive_leaves(fields))
            # Expiries at least 17 minutes apart: an expiry simulated for one grant must
            # not leave another a few milliseconds from its own, or the read and the
            # check (taken instants apart) would disagree about it.
            expires_at = datetime.now(UTC) + timedelta(days=days, minutes=17 * len(grant_ids))
            made = await grant(
                client,
                leaver,
                partners[org].organisation_id,
                fields,
                explicit=explicit,
                expires_at=expires_at.isoformat(),
            )
            grant_ids.append(uuid.UUID(made["id"]))
        elif kind == "revoke" and grant_ids:
            target = grant_ids[op[1] % len(grant_ids)]
            r = await client.post(f"/v1/me/consents/{target}/revoke", headers=leaver.headers)
            assert r.status_code == 200
        elif kind == "expire" and grant_ids:
            await _expire(db, leaver.id, grant_ids[op[1] % len(grant_ids)])
        elif kind == "edit":
            own = await client.get("/v1/me", headers=leaver.headers)
            r = await client.patch(
                "/v1/me",
                json=op[1],
                headers={
                    **leaver.headers,
                    "If-Match": own.headers["etag"],
                    "Content-Type": "application/merge-patch+json",
                },
            )
            assert r.status_code == 200, r.text
        elif kind == "progress":
            r = await client.post(
                "/v1/me/progress",
                json={"readings": {"mental_health": op[1], "accommodation": 11 - op[1]}},
                headers=leaver.headers,
            )
            assert r.status_code == 201, r.text
        await _check(client, db, leaver.id, partners)


async def test_the_earlier_of_two_grants_expiring_narrows_the_cut_at_once(
    client: httpx.AsyncClient, actors: Actors, db: Database
) -> None:
    partner = await actors.client("profiles:read")
    leaver = await make_leaver(client, actors, data=full_document())
    soon = datetime.now(UTC) + timedelta(days=3)
    later = datetime.now(UTC) + timedelta(days=30)
    brief = await grant(
        client, leaver, partner.organisation_id, ["contact.phone"], expires_at=soon.isoformat()
    )
    await grant(client, leaver, partner.organisation_id, ["identity"], expires_at=later.isoformat())
    await _expire(db, leaver.id, uuid.UUID(brief["id"]))
    body = (await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)).json()
    assert "contact" not in body["data"]
    assert brief["id"] not in body["grant_ids"]
    await _check(client, db, leaver.id, [partner])
