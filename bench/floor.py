"""The floor: the least this stack can do for a partner read.

A bare Starlette app with an asyncpg pool that reads the same JSON documents by primary
key from the same PostgreSQL, under the same ASGI server settings as Onward. No auth, no
consent, no audit: it is the limit of Starlette + asyncpg + PostgreSQL on this machine, so
Onward's throughput is reported as a ratio of it.

Run: ``uvicorn bench.floor:app --port 8101`` with ``DATABASE_URL`` set.
"""

from __future__ import annotations

import json
import os
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


async def read_profile(request: Request) -> Response:
    try:
        import uuid

        profile_id = uuid.UUID(request.path_params["id"])
    except ValueError:
        return Response(status_code=404)
    async with request.app.state.pool.acquire() as conn:
        row = await conn.fetchrow(QUERY, profile_id)
    if row is None:
        return Response(status_code=404)
    body: dict[str, Any] = {
        "id": str(row["id"]),
        "data": json.loads(row["data"]),
        "version": row["version"],
        "updated_at": row["updated_at"].isoformat(),
    }
    return Response(json.dumps(body), media_type="application/json")


app = Starlette(routes=[Route("/v1/profiles/{id}", read_profile)], lifespan=lifespan)
