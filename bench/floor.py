"""The floors: the least this stack can do for a partner read.

A bare Starlette app with an asyncpg pool, under the same ASGI server settings as Onward,
with two routes:

* ``GET /v1/profiles/{id}``, the *read-only floor*: reads the same JSON document by
  primary key from the same PostgreSQL. No auth, no consent, no audit: the limit of
  Starlette + asyncpg + PostgreSQL on this machine.
* ``GET /same-work/{id}``, the *same-work floor*: reads the document by primary key and
  appends one access-event row in the same statement (a data-modifying CTE, autocommit,
  synchronous commit: the event is durable before the answer leaves), as a partner read
  must. Still no auth and no consent: the limit for a read that is recorded.

Onward's throughput is reported as a ratio of each. The event's organisation and client
come from ``BENCH_ORGANISATION_ID`` and ``BENCH_CLIENT_ID`` (set by the harness).

Run: ``uvicorn bench.floor:app --port 8101`` with ``DATABASE_URL`` set.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


class _NoResetConnection(asyncpg.Connection):  # type: ignore[misc]
    def get_reset_query(self) -> str:
        return ""  # no RESET ALL round trip when a connection goes back to the pool


def _dsn() -> str:
    url = os.environ["DATABASE_URL"]
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(
        _dsn(), min_size=10, max_size=20, connection_class=_NoResetConnection
    )
    yield
    await app.state.pool.close()


QUERY = "SELECT id, data, version, updated_at FROM profiles WHERE id = $1"


# The same work as a partner read's statement, less the token and consent: the document
# by primary key, and one access event appended by the same statement.
SAME_WORK_QUERY = """
WITH p AS (SELECT id, data, version, updated_at FROM profiles WHERE id = $1),
ev AS (
  INSERT INTO access_events (id, profile_id, organisation_id, client_id, action, fields,
                             grant_ids, at)
  SELECT gen_random_uuid(), p.id, $2, $3, 'profile.read', $4, '{}', clock_timestamp()
    FROM p
)
SELECT id, data, version, updated_at FROM p
"""
FIELDS = ["identity", "contact", "release", "needs.accommodation", "needs.education_work"]


def _answer(row: Any) -> Response:
    if row is None:
        return Response(status_code=404)
    body: dict[str, Any] = {
        "id": str(row["id"]),
        "data": json.loads(row["data"]),
        "version": row["version"],
        "updated_at": row["updated_at"].isoformat(),
    }
    return Response(json.dumps(body), media_type="application/json")


async def read_profile(request: Request) -> Response:
    try:
        profile_id = uuid.UUID(request.path_params["id"])
    except ValueError:
        return Response(status_code=404)
    async with request.app.state.pool.acquire() as conn:
        row = await conn.fetchrow(QUERY, profile_id)
    return _answer(row)


async def read_and_record(request: Request) -> Response:
    try:
        profile_id = uuid.UUID(request.path_params["id"])
    except ValueError:
        return Response(status_code=404)
    async with request.app.state.pool.acquire() as conn:
        row = await conn.fetchrow(SAME_WORK_QUERY, profile_id, ORGANISATION_ID, CLIENT_ID, FIELDS)
    return _answer(row)


ORGANISATION_ID = uuid.UUID(os.environ.get("BENCH_ORGANISATION_ID", str(uuid.UUID(int=0))))
CLIENT_ID = os.environ.get("BENCH_CLIENT_ID", "bench-partner")

app = Starlette(
    routes=[
        Route("/v1/profiles/{id}", read_profile),
        Route("/same-work/{id}", read_and_record),
    ],
    lifespan=lifespan,
)
