"""Database faults (issue 19, API.md §0 "faults").

On a second PostgreSQL the test stops and starts itself (an embedded pgserver cluster in
its own directory), an app built as in production (``database=None``: the lifespan makes
the engine and the hot path's asyncpg pool, with ``ONWARD_DB__TIMEOUT_SECONDS`` = 1):

* stopped under concurrent partner reads, writes and token requests, every answer is 200
  (from before) or 503 with ``Retry-After`` (problem+json; RFC 6749
  ``temporarily_unavailable`` on /oauth/token), never 500, each within the timeout and a
  generous margin;
* started again, the very first request of each kind answers 200, without restarting the
  app;
* a table held under an ACCESS EXCLUSIVE lock longer than the timeout: 503 within it;
* every 200 partner read has its access event.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app.api.errors import RetryReads
from app.errors import database_fault
from app.main import create_app
from app.migrate import upgrade
from app.settings import DatabaseSettings, Settings
from tests.api.consent_helpers import grant, make_leaver
from tests.api.offers_helpers import offer_body
from tests.support import Actor, Actors

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 1.0
# Generous: machines are noisy. The point is "bounded", against the 14 s of issue 19.
MARGIN = 4.0
READ_FIELDS = ["identity.preferred_name"]


# --- a PostgreSQL the test can stop and start ------------------------------------------


@dataclass
class Cluster:
    server: Any
    pgserver: Any
    url: str

    def stop(self) -> None:
        self.pgserver.pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user
        )

    def start(self) -> None:
        # The very pg_ctl start pgserver made the cluster with (same socket directory).
        with self.server._lock:
            self.server.ensure_postgres_running()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    try:
        import pgserver  # type: ignore[import-untyped,unused-ignore]
    except ImportError:  # pragma: no cover - the embedded extra is part of the test install
        pytest.skip("pgserver (the embedded PostgreSQL) is not installed: no cluster to stop")
    # Under the checkout, not /tmp: pgserver runs PostgreSQL as its own user when root, and
    # pytest's temporary directories are private to the current user.
    pgdata = ROOT / ".onward-test" / f"faults-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # get_server is not re-exported from the package (mypy --strict): name its module.
    server = pgserver.postgres_server.get_server(pgdata, cleanup_mode="delete")
    server.psql('CREATE DATABASE "onward";')
    socket_dir = server.get_postmaster_info().socket_dir
    url = f"postgresql+asyncpg://postgres@/onward?host={quote(str(socket_dir))}"
    try:
        yield Cluster(server, pgserver, url)
    finally:
        try:
            server.cleanup()
        finally:
            shutil.rmtree(pgdata, ignore_errors=True)


@asynccontextmanager
async def running_app(url: str) -> AsyncIterator[FastAPI]:
    settings = Settings(
        environment="test",
        data_dir=ROOT / ".onward-test",
        issuer="http://testserver",
        database_url=url,
        background_tasks=True,  # the loops must live through the outage too
        db=DatabaseSettings(pool_size=5, max_overflow=5, timeout_seconds=TIMEOUT),
    )
    app = create_app(settings)  # database=None: the real engine and asyncpg pool
    async with app.router.lifespan_context(app):
        yield app


@dataclass
class World:
    app: FastAPI
    client: httpx.AsyncClient
    partner: Actor
    provider: Actor
    leaver_id: str


@pytest.fixture(scope="module")
async def world(cluster: Cluster) -> AsyncIterator[World]:
    await upgrade(cluster.url)
    async with running_app(cluster.url) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            actors = Actors(app)
            partner = await actors.client("profiles:read")
            provider = await actors.client("offers:write", kind="provider")
            leaver = await make_leaver(c, actors)
            await grant(c, leaver, partner.organisation_id, READ_FIELDS)
            yield World(app, c, partner, provider, leaver.id)


# --- what is sent, and what each answer must look like ---------------------------------


@dataclass
class Answer:
    kind: str
    status: int
    seconds: float
    sent_at: float


async def send(world: World, kind: str) -> Answer:
    c = world.client
    began = time.monotonic()
    if kind == "read":
        r = await c.get(f"/v1/profiles/{world.leaver_id}", headers=world.partner.headers)
    elif kind == "write":
        r = await c.post("/v1/offers", json=offer_body(), headers=world.provider.headers)
    else:
        r = await c.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(world.partner.client_id, world.partner.client_secret),
        )
    seconds = time.monotonic() - began
    check(kind, r)
    return Answer(kind, r.status_code, seconds, began)


def check(kind: str, r: httpx.Response) -> None:
    """200 (201 for a write) or the 503 of API.md §0, and never anything else."""
    ok = 201 if kind == "write" else 200
    assert r.status_code in (ok, 503), (kind, r.status_code, r.text)
    if r.status_code != 503:
        return
    assert int(r.headers["retry-after"]) > 0
    if kind == "token":
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()["error"] == "temporarily_unavailable"
    else:
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["status"] == 503
        assert body["type"].endswith("/service-unavailable")


KINDS = ("read", "write", "token")


async def load(world: World, until: asyncio.Event, answers: list[Answer]) -> None:
    """One worker per kind and two readers, each sending one request after another."""

    async def worker(kind: str) -> None:
        while not until.is_set():
            answers.append(await send(world, kind))
            await asyncio.sleep(0.01)

    await asyncio.gather(*(worker(k) for k in (*KINDS, "read")))


async def read_events(cluster: Cluster, world: World) -> int:
    dsn = cluster.url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM access_events WHERE organisation_id = $1"
            " AND action = 'profile.read'",
            world.partner.organisation_id,
        )
        return count
    finally:
        await conn.close()


# --- the outage -------------------------------------------------------------------------


async def test_stop_and_start_under_load(cluster: Cluster, world: World) -> None:
    events_before = await read_events(cluster, world)
    answers: list[Answer] = []
    until = asyncio.Event()
    loader = asyncio.create_task(load(world, until, answers))
    await asyncio.sleep(0.5)
    stopped_at = time.monotonic()
    await asyncio.to_thread(cluster.stop)
    await asyncio.sleep(2.0)  # the outage, under load
    until.set()
    await loader

    during = [a for a in answers if a.sent_at > stopped_at + 0.5]
    statuses = Counter((a.kind, a.status) for a in answers)
    assert during, statuses
    assert all(a.status == 503 for a in during), statuses
    assert {a.kind for a in during} == set(KINDS), statuses
    longest = max(a.seconds for a in answers)
    assert longest < TIMEOUT + MARGIN, (longest, statuses)

    # Back again: the first request of each kind answers 200, the app not restarted.
    starting = time.monotonic()
    await asyncio.to_thread(cluster.start)
    started_at = time.monotonic()
    firsts = [await send(world, kind) for kind in KINDS]
    assert [a.status for a in firsts] == [200, 201, 200], firsts
    recovered_in = time.monotonic() - started_at

    # Under load again: all well.
    after: list[Answer] = []
    until = asyncio.Event()
    loader = asyncio.create_task(load(world, until, after))
    await asyncio.sleep(0.5)
    until.set()
    await loader
    assert after
    assert all(a.status in (200, 201) for a in after), Counter(a.status for a in after)

    # Every 200 partner read has its access event (a retried read may add one, never lose).
    reads = sum(1 for a in (*answers, *firsts, *after) if a.kind == "read" and a.status == 200)
    assert await read_events(cluster, world) - events_before >= reads
    print(  # the figures of issue 19's note (pytest -s shows them)
        f"\nstop/start under load: {dict(statuses)}; longest wait {longest:.3f} s; "
        f"pg_ctl start took {started_at - starting:.3f} s, then the first request of each "
        f"kind answered 200 in {recovered_in:.3f} s (together)"
    )


async def test_a_lock_held_longer_than_the_timeout_answers_503_within_it(
    cluster: Cluster, world: World
) -> None:
    dsn = cluster.url.replace("postgresql+asyncpg://", "postgresql://")
    holder = await asyncpg.connect(dsn)
    try:
        # The read's cut, the clients the token endpoint checks, and the offers written.
        tx = holder.transaction()
        await tx.start()
        await holder.execute("LOCK TABLE disclosure_cuts, clients, offers IN ACCESS EXCLUSIVE MODE")
        answers = await asyncio.gather(*(send(world, kind) for kind in KINDS))
        await tx.rollback()
    finally:
        await holder.close()
    assert [a.status for a in answers] == [503, 503, 503], answers
    assert all(a.seconds < TIMEOUT + MARGIN for a in answers), answers
    print(f"\nunder a held lock: {[(a.kind, a.status, round(a.seconds, 3)) for a in answers]}")
    # The lock gone, the same requests succeed.
    assert [(await send(world, kind)).status for kind in KINDS] == [200, 201, 200]


# --- the mapping and the one retry, without a cluster to stop ---------------------------


def test_fault_kinds() -> None:
    assert database_fault(ConnectionRefusedError()) == "lost"
    assert database_fault(asyncpg.ConnectionDoesNotExistError("closed")) == "lost"
    assert database_fault(asyncpg.exceptions.AdminShutdownError("bye")) == "lost"
    assert database_fault(asyncpg.exceptions.CannotConnectNowError("starting")) == "lost"
    assert database_fault(TimeoutError()) == "timeout"
    assert database_fault(asyncpg.exceptions.QueryCanceledError("timeout")) == "timeout"
    assert database_fault(asyncpg.exceptions.LockNotAvailableError("lock")) == "timeout"
    assert database_fault(asyncpg.exceptions.UniqueViolationError("dup")) is None
    assert database_fault(ValueError()) is None


@pytest.mark.parametrize(("method", "runs"), [("GET", 2), ("POST", 1)])
async def test_a_lost_connection_is_retried_once_for_a_read_never_for_a_write(
    method: str, runs: int
) -> None:
    from app.api.errors import unexpected_error

    calls: list[str] = []

    async def inner(scope: Any, receive: Any, send_: Any) -> None:
        # The first run's connection dies under it (what errors.LastResort answers).
        calls.append(scope["method"])
        if len(calls) == 1:
            exc = asyncpg.ConnectionDoesNotExistError("connection was closed")
            await unexpected_error(scope, exc)(scope, receive, send_)
            return
        await send_({"type": "http.response.start", "status": 200, "headers": []})
        await send_({"type": "http.response.body", "body": b"ok"})

    transport = httpx.ASGITransport(app=RetryReads(inner))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.request(method, "/v1/profiles/x")
    assert len(calls) == runs
    assert r.status_code == (200 if method == "GET" else 503)
