"""``LeanRoute``: an ``APIRoute`` for the hot operations, served without per-request solving.

A ``LeanRoute`` is registered, routed, documented and wrapped by the middleware exactly
like any other FastAPI route: FastAPI builds its OpenAPI operation (parameters, security
scopes, responses) from the same registration, and its errors go through the same
exception handlers. What it leaves out is the per-request work its operations never need:

* **dependency solving**: the endpoint's dependencies are compiled once, at start-up, into
  a plan (which dependency to call with which arguments, and in which order); a request
  runs the plan. No parameter validation happens at request time because a lean endpoint
  is only allowed parameters that need none: ``Request``, ``SecurityScopes``, path
  parameters typed ``str``, and async dependencies made of the same;
* **response validation and serialisation**: a lean endpoint returns a ``Response``
  (its body already rendered), so there is nothing to validate or encode;
* the per-request exit stacks, which only dependencies with ``yield`` use.

Whatever does not fit is refused when the route is registered (``TypeError``), never
served differently. ``app.dependency_overrides`` (a testing aid no test here uses) is not
consulted by the plan: a lean route refuses to serve while any override is set rather
than silently ignore it.

Lean routes sit on the application's own router, ahead of every included router
(:func:`serve_first`): the hot operations are matched first, by one regular expression
each, instead of after a walk through the included routers.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, get_type_hints

from fastapi import APIRouter, FastAPI
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import SecurityScopes
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

Resolver = Callable[[Request, dict[Any, Any]], Awaitable[Any]]


def _scopes_of(dependant: Dependant) -> list[str]:
    scopes = list(dependant.parent_oauth_scopes or [])
    scopes += [s for s in dependant.own_oauth_scopes or [] if s not in scopes]
    return scopes


def _refuse(dependant: Dependant, why: str) -> TypeError:
    name = getattr(dependant.call, "__qualname__", None) or repr(dependant.call)
    return TypeError(f"LeanRoute cannot serve {name}: {why}")


def _compile(dependant: Dependant) -> tuple[Callable[..., Any], Resolver]:
    """The call of ``dependant`` and a coroutine computing its keyword arguments."""
    call = dependant.call
    assert call is not None
    if dependant.body_params or dependant.query_params:
        raise _refuse(dependant, "body and query parameters need validation")
    if dependant.header_params or dependant.cookie_params:
        raise _refuse(dependant, "header and cookie parameters need validation")
    if (
        dependant.websocket_param_name
        or dependant.background_tasks_param_name
        or dependant.response_param_name
    ):
        raise _refuse(dependant, "only Request and SecurityScopes are provided")
    path_names: list[str] = []
    for param in dependant.path_params:
        if param.field_info.annotation is not str:
            raise _refuse(dependant, f"path parameter {param.name!r} must be a plain str")
        path_names.append(param.name)
    subs: list[tuple[str | None, Callable[..., Any], Resolver, tuple[Any, ...]]] = []
    for sub in dependant.dependencies:
        sub_call = sub.call
        assert sub_call is not None
        target = sub_call if inspect.isroutine(sub_call) else getattr(sub_call, "__call__", None)  # noqa: B004
        if not inspect.iscoroutinefunction(target):
            # Generators need exit stacks; plain functions run in a thread pool.
            raise _refuse(sub, "dependencies must be async functions (no yield)")
        sub_fn, sub_args = _compile(sub)
        key = (sub_call, tuple(sorted(_scopes_of(sub))))
        subs.append((sub.name, sub_fn, sub_args, key if sub.use_cache else ()))
    # A Request is an HTTPConnection: security schemes ask for the latter.
    request_names = [
        n for n in (dependant.request_param_name, dependant.http_connection_param_name) if n
    ]
    scopes_name = dependant.security_scopes_param_name
    security_scopes = SecurityScopes(scopes=_scopes_of(dependant))

    async def arguments(request: Request, cache: dict[Any, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if path_names:
            path_params = request.scope["path_params"]
            for name in path_names:
                values[name] = path_params[name]
        for name in request_names:
            values[name] = request
        if scopes_name is not None:
            values[scopes_name] = security_scopes
        for sub_name, fn, args, key in subs:
            if key and key in cache:
                value = cache[key]
            else:
                value = await fn(**await args(request, cache))
                if key:
                    cache[key] = value
            if sub_name is not None:
                values[sub_name] = value
        return values

    return call, arguments


class LeanRoute(APIRoute):
    """An ``APIRoute`` whose endpoint returns a rendered ``Response`` and whose
    dependencies are compiled at registration (see the module docstring)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        returns = get_type_hints(endpoint).get("return")
        if not (inspect.isclass(returns) and issubclass(returns, Response)):
            raise TypeError(f"LeanRoute endpoint {endpoint.__qualname__} must return a Response")
        if not inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"LeanRoute endpoint {endpoint.__qualname__} must be async")
        call, arguments = _compile(self.dependant)

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["app"].dependency_overrides:
                raise RuntimeError("a LeanRoute does not apply dependency_overrides")
            request = Request(scope, receive, send)
            response: Response = await call(**await arguments(request, {}))
            await response(scope, receive, send)

        # Exceptions propagate to the application's exception handlers (the
        # ExceptionMiddleware inside the middleware stack), as for every route.
        self.app = app


def _operation_namer(app: FastAPI) -> Callable[[APIRoute], str]:
    """The app's ``generate_unique_id_function`` (FastAPI's default when none was given)."""
    namer = app.router.generate_unique_id_function
    return namer.value if isinstance(namer, DefaultPlaceholder) else namer


def serve_first(app: FastAPI, *routers: APIRouter) -> None:
    """Put the routers' lean routes at the head of ``app``'s own router, in order: they
    are matched before any other route. They are documented in OpenAPI like every other
    route: FastAPI reads the operation from the route itself, wherever it sits. Call it
    before the first request (``create_app``)."""
    lean: list[LeanRoute] = []
    name_operation = _operation_namer(app)
    for router in routers:
        for route in router.routes:
            if not isinstance(route, LeanRoute):
                raise TypeError(f"serve_first takes LeanRoutes only, not {route!r}")
            # The app's operationId rule, as include_router would have applied it.
            route.unique_id = route.operation_id or name_operation(route)
            lean.append(route)
    app.router.routes[:0] = lean


def serve_before(app: FastAPI, router: APIRouter) -> None:
    """Put ``router``'s routes (ordinary ones) at the very front, ahead of the lean routes:
    a fixed path such as ``/v1/profiles/changes`` must not be taken for a lean route's
    parameter (``/v1/profiles/{profile_id}``). Use it instead of ``include_router`` for
    such a router: it has no prefix, and gets the app's operationId rule here."""
    name_operation = _operation_namer(app)
    for route in router.routes:
        if isinstance(route, APIRoute):
            route.unique_id = route.operation_id or name_operation(route)
    app.router.routes[:0] = list(router.routes)
