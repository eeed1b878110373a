"""Conventions of API.md §0 that hold before any domain endpoint exists."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from tests.conftest import problem


async def test_healthz(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_readyz_when_migrated(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ok"


async def test_readyz_503_when_database_unreachable(app: FastAPI) -> None:
    from app.db import make_database, make_engine

    broken = make_database(
        make_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none", app.state.settings)
    )
    real = app.state.db
    app.state.db = broken
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as c:
            r = await c.get("/readyz")
    finally:
        app.state.db = real
        await broken.dispose()
    assert r.status_code == 503
    assert r.json()["database"] == "unreachable"


async def test_unknown_path_is_problem_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/nothing-here")
    assert r.status_code == 404
    # The app's own problem type and title, as for any other 404 (API.md §0).
    assert problem(r)["title"] == "Not found"
    assert problem(r)["type"] == "/problems/not-found"


async def test_wrong_method_is_problem_405(client: httpx.AsyncClient) -> None:
    r = await client.delete("/healthz")
    assert r.status_code == 405
    problem(r)
    assert "GET" in r.headers["allow"]


class _Secretive(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pin: str = Field(pattern=r"^[0-9]{6,12}$")
    story: str = Field(max_length=10)


@pytest.fixture
def echo_app(app: FastAPI) -> FastAPI:
    @app.post("/_test/echo")
    async def echo(body: _Secretive) -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/_test/boom")
    async def boom() -> None:
        raise RuntimeError("internal detail: /srv/secret/path line 42")

    return app


async def test_422_never_echoes_what_was_sent(echo_app: FastAPI) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=echo_app), base_url="http://testserver"
    ) as c:
        r = await c.post(
            "/_test/echo",
            json={"pin": "12ab9999", "story": "S3NT1NEL-STORY", "extra": "X-UNKNOWN-KEY-VALUE"},
        )
    assert r.status_code == 422
    body = problem(r)
    locs = [e["loc"] for e in body["errors"]]
    assert ["body", "pin"] in locs
    assert ["body", "story"] in locs
    assert ["body", "<unknown>"] in locs  # an unknown key is never named
    for sent in ("12ab9999", "S3NT1NEL", "X-UNKNOWN-KEY-VALUE"):
        assert sent not in r.text


async def test_invalid_json_is_422_problem(echo_app: FastAPI) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=echo_app), base_url="http://testserver"
    ) as c:
        r = await c.post(
            "/_test/echo",
            content=b'{"pin": "99887766", ',
            headers={"content-type": "application/json"},
        )
    assert r.status_code == 422
    assert "99887766" not in r.text
    problem(r)


async def test_500_is_problem_without_internals(echo_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=echo_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.get("/_test/boom")
    assert r.status_code == 500
    body = problem(r)
    assert "secret" not in r.text
    assert "Traceback" not in r.text
    assert body["type"] == "/problems/internal-error"


async def test_body_over_1mib_with_length_is_413(echo_app: FastAPI) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=echo_app), base_url="http://testserver"
    ) as c:
        r = await c.post(
            "/_test/echo",
            content=b"x" * (1024 * 1024 + 1),
            headers={"content-type": "application/json"},
        )
    assert r.status_code == 413
    problem(r)


async def test_chunked_body_over_1mib_is_413(echo_app: FastAPI) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(17):
            yield b"y" * 65536

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=echo_app), base_url="http://testserver"
    ) as c:
        r = await c.post(
            "/_test/echo", content=chunks(), headers={"content-type": "application/json"}
        )
    assert "content-length" not in r.request.headers
    assert r.status_code == 413
    problem(r)


async def test_body_just_under_limit_is_parsed(echo_app: FastAPI) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=echo_app), base_url="http://testserver"
    ) as c:
        r = await c.post(
            "/_test/echo", json={"pin": "48151623", "story": "ok", "pad": "z" * (1024 * 1024 - 200)}
        )
    assert r.status_code == 422  # parsed and validated (the pad key is unknown), not 413


async def test_default_no_store(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.headers["cache-control"] == "no-store"


async def test_docs_pages_reference_only_local_assets(client: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        r = await client.get(page)
        assert r.status_code == 200
        assert "cdn.jsdelivr" not in r.text
        assert "fonts.googleapis" not in r.text
        assert "/static/docs/" in r.text
    js = await client.get("/static/docs/swagger-ui-bundle.js")
    assert js.status_code == 200
    assert len(js.content) > 100_000
