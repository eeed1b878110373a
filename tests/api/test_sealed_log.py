"""The sealed access log (API.md §10): a database owner's rewrite cannot go unseen.

Sealing only takes settled (committed) events, so these tests commit. Tampering happens
as the database owner would do it: with the append-only trigger switched off
(``session_replication_role = replica``), inside a transaction the test rolls back, or,
for the command line, committed and put back in a ``finally``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.audit.seal import seal_pending
from app.audit.verify import verify_log
from tests.api.consent_helpers import grant, make_leaver
from tests.conftest import TEST_DATA_DIR
from tests.support import Actors

pytestmark = pytest.mark.committed


async def _reads(client: Any, actors: Any, n: int = 3) -> tuple[Any, Any]:
    partner = await actors.client("profiles:read")
    leaver = await make_leaver(client, actors)
    await grant(client, leaver, partner.organisation_id, ["contact.phone"])
    for _ in range(n):
        r = await client.get(f"/v1/profiles/{leaver.id}", headers=partner.headers)
        assert r.status_code == 200
    return partner, leaver


@pytest.fixture
async def sealed(
    committed_client: httpx.AsyncClient, committed_actors: Actors, committed_app: FastAPI
) -> dict[str, Any]:
    partner, leaver = await _reads(committed_client, committed_actors)
    sessionmaker = committed_app.state.db.sessionmaker
    await seal_pending(sessionmaker, committed_app.state.tokens)
    async with sessionmaker() as session:
        seqs = (
            await session.execute(
                text("SELECT seq FROM access_events WHERE profile_id = :p ORDER BY seq"),
                {"p": leaver.id},
            )
        ).scalars()
        return {"leaver": leaver, "partner": partner, "seqs": list(seqs)}


@pytest.fixture
async def owner(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """The database owner's session, triggers off, rolled back at the end."""
    async with engine.connect() as conn:
        transaction = await conn.begin()
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        yield AsyncSession(bind=conn)
        await transaction.rollback()


async def test_events_are_sealed_and_shown_with_their_seal(
    committed_client: httpx.AsyncClient, committed_app: FastAPI, sealed: dict[str, Any]
) -> None:
    log = (
        await committed_client.get("/v1/me/access-log", headers=sealed["leaver"].headers)
    ).json()["items"]
    assert len(log) == 3
    assert all(len(item["seal"]) == 64 for item in log)
    async with committed_app.state.db.sessionmaker() as session:
        report = await verify_log(session, committed_app.state.tokens)
    assert report.ok, report.problems
    assert report.sealed >= 3
    assert report.checkpoints >= 1


async def test_a_rewritten_event_is_named(
    committed_app: FastAPI, sealed: dict[str, Any], owner: AsyncSession
) -> None:
    target = sealed["seqs"][1]
    await owner.execute(
        text("UPDATE access_events SET fields = '{story.summary}' WHERE seq = :s"), {"s": target}
    )
    report = await verify_log(owner, committed_app.state.tokens)
    assert not report.ok
    assert f"event seq {target} " in report.problems[0]
    assert "changed after sealing" in report.problems[0]


async def test_a_deleted_event_is_detected(
    committed_app: FastAPI, sealed: dict[str, Any], owner: AsyncSession
) -> None:
    target = sealed["seqs"][0]
    await owner.execute(text("DELETE FROM access_events WHERE seq = :s"), {"s": target})
    report = await verify_log(owner, committed_app.state.tokens)
    assert not report.ok
    assert f"event seq {target} " in report.problems[0]
    assert "deleted" in report.problems[0]


async def test_a_reordered_pair_is_detected(
    committed_app: FastAPI, sealed: dict[str, Any], owner: AsyncSession
) -> None:
    a, b = sealed["seqs"][0], sealed["seqs"][1]
    # Swap the two events' content (what each says happened), keeping the rows in place.
    await owner.execute(
        text(
            "UPDATE access_events AS e SET at = o.at, fields = o.fields FROM access_events AS o "
            "WHERE (e.seq, o.seq) IN ((:a, :b), (:b, :a))"
        ),
        {"a": a, "b": b},
    )
    report = await verify_log(owner, committed_app.state.tokens)
    assert not report.ok
    assert f"event seq {a} " in report.problems[0]


async def test_resealing_a_forgery_is_caught_by_the_signed_checkpoints(
    committed_app: FastAPI, sealed: dict[str, Any], owner: AsyncSession
) -> None:
    """The owner rewrites an event and recomputes every seal after it: the chain is
    consistent again, but the checkpoints were signed with a key the owner lacks."""
    from app.audit.seal import chain, event_of

    target = sealed["seqs"][0]
    await owner.execute(
        text("UPDATE access_events SET fields = '{story.summary}' WHERE seq = :s"), {"s": target}
    )
    start = (
        await owner.execute(
            text("SELECT position FROM access_event_seals WHERE event_seq = :s"), {"s": target}
        )
    ).scalar_one()
    previous = (
        await owner.execute(
            text("SELECT seal FROM access_event_seals WHERE position = :p"), {"p": start - 1}
        )
    ).scalar_one_or_none() or "0" * 64
    rows = (
        await owner.execute(
            text(
                "SELECT s.position, e.seq, e.id, e.at, e.profile_id, e.organisation_id, "
                "e.client_id, e.action, e.fields, e.grant_ids FROM access_event_seals AS s "
                "JOIN access_events AS e ON e.seq = s.event_seq WHERE s.position >= :p "
                "ORDER BY s.position"
            ),
            {"p": start},
        )
    ).all()
    for row, seal in zip(rows, chain(previous, [event_of(r) for r in rows]), strict=True):
        await owner.execute(
            text("UPDATE access_event_seals SET seal = :seal WHERE position = :p"),
            {"seal": seal, "p": row.position},
        )
    report = await verify_log(owner, committed_app.state.tokens)
    assert not report.ok
    assert "checkpoint" in report.problems[0]
    assert "does not match the chain" in report.problems[0]


async def test_deleted_checkpoints_are_caught_by_one_kept_outside(
    committed_app: FastAPI, sealed: dict[str, Any], owner: AsyncSession
) -> None:
    async with committed_app.state.db.sessionmaker() as session:
        kept = (
            await session.execute(
                text("SELECT signed FROM access_log_checkpoints ORDER BY position DESC LIMIT 1")
            )
        ).scalar_one()
    target = sealed["seqs"][2]
    await owner.execute(
        text("UPDATE access_events SET client_id = 'forged' WHERE seq = :s"), {"s": target}
    )
    # The owner wipes the seals from that event on and every checkpoint: a fresh chain.
    await owner.execute(text("DELETE FROM access_log_checkpoints"))
    await owner.execute(
        text(
            "DELETE FROM access_event_seals WHERE position >= "
            "(SELECT position FROM access_event_seals WHERE event_seq = :s)"
        ),
        {"s": target},
    )
    assert (await verify_log(owner, committed_app.state.tokens, [kept])).ok is False


async def test_an_event_slipped_in_behind_the_sealed_end_is_detected(
    committed_app: FastAPI, sealed: dict[str, Any], owner: AsyncSession
) -> None:
    first = sealed["seqs"][0]
    await owner.execute(
        text(
            "INSERT INTO access_events (id, profile_id, organisation_id, client_id, action, "
            "fields, grant_ids, at, txid) SELECT gen_random_uuid(), profile_id, "
            "organisation_id, client_id, action, fields, grant_ids, at, txid "
            "FROM access_events WHERE seq = :s"
        ),
        {"s": first},
    )
    # Its seq is new (higher) but its txid is old: it sorts before the sealed end.
    report = await verify_log(owner, committed_app.state.tokens)
    assert not report.ok
    assert "not sealed but lies before the sealed end" in report.problems[0]


async def test_two_replicas_sealing_at_once_make_one_chain(
    committed_client: httpx.AsyncClient,
    committed_actors: Actors,
    committed_app: FastAPI,
    engine: AsyncEngine,
) -> None:
    await _reads(committed_client, committed_actors, n=20)
    one = async_sessionmaker(engine, expire_on_commit=False)
    two = async_sessionmaker(engine, expire_on_commit=False)
    tokens = committed_app.state.tokens
    await asyncio.gather(seal_pending(one, tokens), seal_pending(two, tokens))
    async with one() as session:
        report = await verify_log(session, tokens)
        unsealed = (
            await session.execute(
                text(
                    "SELECT count(*) FROM access_events AS e WHERE NOT EXISTS "
                    "(SELECT 1 FROM access_event_seals AS s WHERE s.event_seq = e.seq)"
                )
            )
        ).scalar_one()
    assert report.ok, report.problems
    assert unsealed == 0


async def test_verify_log_command_exits_non_zero_naming_the_event(
    committed_app: FastAPI, sealed: dict[str, Any], database_url: str
) -> None:
    from app.cli import main
    from app.settings import get_settings

    env = {"DATABASE_URL": database_url, "ONWARD_DATA_DIR": str(TEST_DATA_DIR)}
    target = sealed["seqs"][1]

    async def tamper(conn: AsyncConnection, value: str | None) -> None:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(
            text("UPDATE access_events SET client_id = :v WHERE seq = :s"),
            {"v": value, "s": target},
        )

    def run(capsys_env: dict[str, str]) -> int:
        saved = {k: os.environ.get(k) for k in capsys_env}
        os.environ.update(capsys_env)
        get_settings.cache_clear()
        try:
            return main(["verify-log"])
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            get_settings.cache_clear()

    assert await asyncio.to_thread(run, env) == 0
    engine = committed_app.state.db.engine
    async with engine.begin() as conn:
        original = (
            await conn.execute(
                text("SELECT client_id FROM access_events WHERE seq = :s"), {"s": target}
            )
        ).scalar_one()
        await tamper(conn, "forged")
    try:
        assert await asyncio.to_thread(run, env) == 1
    finally:
        async with engine.begin() as conn:
            await tamper(conn, original)
    assert await asyncio.to_thread(run, env) == 0


async def test_onward_worker_seals_without_serving_and_stops_cleanly(
    committed_client: httpx.AsyncClient,
    committed_actors: Actors,
    committed_app: FastAPI,
    database_url: str,
) -> None:
    """``onward worker`` runs the background work alone (for replicas that serve with
    ``ONWARD_BACKGROUND_TASKS=false``): new access events get sealed, the chain verifies,
    and SIGTERM ends it with exit code 0."""
    import signal
    import sys

    _, leaver = await _reads(committed_client, committed_actors)
    sessionmaker = committed_app.state.db.sessionmaker
    unsealed = text(
        "SELECT count(*) FROM access_events e WHERE e.profile_id = :p AND NOT EXISTS "
        "(SELECT 1 FROM access_event_seals s WHERE s.event_seq = e.seq)"
    )
    async with sessionmaker() as session:
        assert (await session.execute(unsealed, {"p": leaver.id})).scalar_one() > 0
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ONWARD_DATA_DIR": str(TEST_DATA_DIR),
        "ONWARD_ISSUER": "http://testserver",
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "worker",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        left = -1
        for _ in range(120):  # the sealer runs every ~5 s; allow for a slow start
            await asyncio.sleep(0.25)
            async with sessionmaker() as session:
                left = (await session.execute(unsealed, {"p": leaver.id})).scalar_one()
            if left == 0:
                break
        assert left == 0
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(worker.communicate(), 20)
    code = worker.returncode
    assert code == 0, stderr.decode()
    async with sessionmaker() as session:
        report = await verify_log(session, committed_app.state.tokens)
    assert report.ok, report.problems
