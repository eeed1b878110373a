"""``LeanRoute``: what it serves, what it refuses at registration (app/routing.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import SecurityScopes
from starlette.responses import Response

from app.routing import LeanRoute, serve_first

calls: list[str] = []


async def scopes_seen(security_scopes: SecurityScopes, request: Request) -> list[str]:
    calls.append("scopes_seen")
    return [*security_scopes.scopes, request.headers.get("x-who", "")]


Seen = Annotated[list[str], Security(scopes_seen, scopes=["a:read"])]


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.fixture
def lean_app() -> FastAPI:
    router = APIRouter(route_class=LeanRoute)

    @router.get("/things/{thing_id}")
    async def read_thing(thing_id: str, seen: Seen, again: Seen) -> JSONResponse:
        """Documented like any route."""
        return JSONResponse({"id": thing_id, "seen": seen, "same": seen is again})

    app = FastAPI()

    @app.get("/{kind}/{thing_id}")
    async def shadowed(kind: str, thing_id: str) -> dict[str, str]:  # pragma: no cover
        return {"shadowed": thing_id}  # registered earlier, matched later: never reached

    serve_first(app, router)
    calls.clear()
    return app


async def test_a_lean_route_serves_its_dependencies_once_per_request(lean_app: FastAPI) -> None:
    async with _client(lean_app) as c:
        r = await c.get("/things/abc", headers={"x-who": "me"})
    assert r.status_code == 200
    # Served first: ahead of a route registered earlier for the same path.
    assert r.json() == {"id": "abc", "seen": ["a:read", "me"], "same": True}
    assert calls == ["scopes_seen"]  # cached within the request, as FastAPI does


async def test_a_lean_route_is_documented_by_its_registration(lean_app: FastAPI) -> None:
    operation = lean_app.openapi()["paths"]["/things/{thing_id}"]["get"]
    assert operation["operationId"] == "read_thing_things__thing_id__get"
    assert operation["description"] == "Documented like any route."
    assert [p["name"] for p in operation["parameters"]] == ["thing_id"]


async def test_a_lean_route_refuses_to_ignore_dependency_overrides(lean_app: FastAPI) -> None:
    lean_app.dependency_overrides[scopes_seen] = lambda: ["overridden"]
    async with _client(lean_app) as c:
        with pytest.raises(RuntimeError, match="dependency_overrides"):
            await c.get("/things/abc")


async def _yielding() -> AsyncIterator[int]:
    yield 1  # pragma: no cover - refused before it could run


def _sync() -> int:  # pragma: no cover - refused before it could run
    return 1


async def query_endpoint(q: Annotated[str, Query()]) -> Response:  # pragma: no cover
    return Response()


async def int_path_endpoint(n: int) -> Response:  # pragma: no cover
    return Response()


async def body_endpoint(body: dict[str, Any]) -> Response:  # pragma: no cover
    return Response()


async def yield_dependency_endpoint(
    v: Annotated[int, Depends(_yielding)],
) -> Response:  # pragma: no cover
    return Response()


async def sync_dependency_endpoint(
    v: Annotated[int, Depends(_sync)],
) -> Response:  # pragma: no cover
    return Response()


async def model_endpoint() -> dict[str, str]:  # pragma: no cover
    return {}


def sync_endpoint() -> Response:  # pragma: no cover
    return Response()


@pytest.mark.parametrize(
    ("path", "endpoint", "why"),
    [
        ("/q", query_endpoint, "query parameters"),
        ("/n/{n}", int_path_endpoint, "plain str"),
        ("/b", body_endpoint, "body"),
        ("/y", yield_dependency_endpoint, "no yield"),
        ("/s", sync_dependency_endpoint, "async functions"),
        ("/m", model_endpoint, "must return a Response"),
        ("/f", sync_endpoint, "must be async"),
    ],
)
def test_what_needs_the_full_machinery_is_refused_at_registration(
    path: str, endpoint: Any, why: str
) -> None:
    router = APIRouter(route_class=LeanRoute)
    with pytest.raises(TypeError, match=why):
        router.add_api_route(path, endpoint, methods=["POST"])


def test_serve_first_takes_lean_routes_only() -> None:
    router = APIRouter()

    @router.get("/x")
    async def x() -> Response:  # pragma: no cover
        return Response()

    with pytest.raises(TypeError, match="LeanRoutes only"):
        serve_first(FastAPI(), router)
