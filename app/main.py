"""The application factory.

``create_app()`` wires routers, middleware and error handlers; the lifespan makes what
must not exist at import time: settings, the database engine and the signing keys. Tests
pass their own ``Database`` so each test runs inside a transaction that is rolled back.
"""

from __future__ import annotations

import gc
import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from app import embedded, pages
from app.api import (
    admin,
    changes,
    consent,
    health,
    me,
    oauth,
    offers,
    openreferral,
    organisations,
    pin_reset,
    profiles,
    referrals,
    webhooks,
    wellknown,
)
from app.api.errors import RetryReads, install_error_handlers
from app.audit.seal import seal_pending
from app.auth.bootstrap import ensure_bootstrap_admin
from app.auth.pins import PinCheckPool
from app.auth.tokens import KeyRing, TokenService, load_or_create_key
from app.consent.cuts import refresh_due
from app.consent.receipts import ReceiptIssuer
from app.db import Database, make_database, make_engine, make_pool
from app.middleware import BodySizeLimit, HostCheck, ResponseHeaders
from app.routing import serve_before, serve_first
from app.settings import Settings, get_settings
from app.webhooks.delivery import deliver_backlog
from app.workers import Periodic

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"

DESCRIPTION = """
Onward is a consent-driven "tell us once" service for people leaving prison.

* **Providers** publish support offers to a public catalogue (Open Referral UK compatible).
* A **prison kiosk** creates the leaver's single profile before release.
* The **leaver** owns that profile and shares it field by field through consent grants
  they can revoke at once, and sees who read what.
* **Partners** read only the consented fields, with OAuth2 scoped tokens.

Conventions: errors are `application/problem+json` (RFC 9457; problem `type` values are
relative references such as `/problems/explicit-consent-required`); the OAuth endpoints
answer RFC 6749 errors instead. Lists answer `{"items": [...], "next_cursor": ...}` with
`limit` 1–100 (default 20). Whatever a caller may not see answers 404, exactly as if it did
not exist. Responses carrying personal data or tokens are `Cache-Control: no-store`.
Request bodies over 1 MiB answer 413.

**Trying it here (Swagger UI).** "Authorize" offers two schemes: `OAuth2` (client id and
secret; Swagger fetches a client-credentials token) and `BearerToken` (paste any token, e.g.
a leaver's from the `urn:onward:grant-type:leaver-pin` grant). Every operation accepts
either, and when **both** are authorised Swagger UI sends only one of them, the last
listed, `BearerToken`: with a leaver's token pasted, a partner's or provider's call goes out
as the leaver and answers 403. Authorise one scheme at a time: "Logout" of `BearerToken`
before acting as an organisation through `OAuth2`, and of `OAuth2` before pasting a token.
"""

TAGS = [
    {"name": "oauth", "description": "Tokens: client credentials and the leaver's PIN."},
    {"name": "admin", "description": "Organisations and clients (scope `admin`)."},
    {
        "name": "organisations",
        "description": "Public look-ups, so a leaver sees who they share with.",
    },
    {"name": "consent", "description": "The field catalogue, purposes and the leaver's grants."},
    {"name": "profiles", "description": "Kiosk creation and partner reads of consented fields."},
    {"name": "me", "description": "The leaver's own profile and access log (scope `self`)."},
    {"name": "offers", "description": "The support marketplace."},
    {"name": "openreferral", "description": "Open Referral UK (HSDS 3) export."},
    {"name": "referrals", "description": "Referrals and progress: plan and track."},
    {
        "name": "webhooks",
        "description": "Signed webhooks for what changed (scope `webhooks:manage`).",
    },
    {"name": "health", "description": "Probes."},
]


def operation_id(route: APIRoute) -> str:
    """Every operation's ``operationId``: its handler's name in camelCase (``create_grant`` →
    ``createGrant``), so generated clients get ``create_grant()``, not
    ``create_grant_v1_me_consents_post()``. Name handlers for what they do; a test holds the
    ids unique across the spec."""
    first, *rest = route.name.split("_")
    return first + "".join(word[:1].upper() + word[1:] for word in rest)


IF_MATCH_DESCRIPTION = (
    'The `ETag` you read, e.g. `"3"` (or `*`). Required where the operation answers 428 '
    "without it; a stale one answers 412."
)


def declare_if_match(spec: dict[str, Any]) -> dict[str, Any]:
    """One declaration of ``If-Match`` for every operation that reads it.

    Handlers take the header as optional so that a missing one is the contract's 428, not
    the framework's 422; the description must still say it is required. The rule: an
    operation that documents a 428 answer requires ``If-Match`` (``PATCH /v1/me``,
    ``PUT /v1/offers/{id}``); elsewhere (``DELETE /v1/offers/{id}``) it stays optional.
    """
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") != "header" or parameter["name"].lower() != "if-match":
                    continue
                parameter.update(
                    name="If-Match",
                    required="428" in operation.get("responses", {}),
                    description=IF_MATCH_DESCRIPTION,
                    schema={"type": "string", "minLength": 1},
                    example='"1"',
                )
    return spec


def background_workers(db: Database, tokens: TokenService, settings: Settings) -> list[Periodic]:
    """The periodic work of a replica: run by every ``onward serve`` unless
    ``ONWARD_BACKGROUND_TASKS=false``, and by ``onward worker``, which serves no HTTP
    (so a deployment can keep sealing's CPU off the processes that answer reads). Each
    task is safe in several processes at once: the database arbitrates."""
    sessionmaker = db.sessionmaker
    allow_private = settings.webhooks_allow_private
    return [
        # Expired grants reach the change feed (and webhooks) within seconds.
        Periodic("expiry-sweep", 5.0, lambda: refresh_due(sessionmaker)),
        # New access events are sealed at least every 10 s (API.md §10).
        Periodic("log-sealer", 5.0, lambda: seal_pending(sessionmaker, tokens)),
        # The outbox: sent about a second after the change commits, by any process.
        Periodic(
            "webhook-delivery",
            1.0,
            lambda: deliver_backlog(sessionmaker, allow_private=allow_private),
        ),
    ]


def build_token_service(settings: Settings) -> TokenService:
    current = load_or_create_key(settings.signing_key_file, settings.data_dir)
    previous = [p.read_bytes() for p in settings.previous_key_files]
    return TokenService(
        KeyRing(current, previous),
        issuer=settings.issuer,
        audience=settings.token_audience,
        ttl_seconds=settings.token_ttl_seconds,
    )


def _telemetry_off(settings: Settings) -> dict[str, Any]:
    """FastAPI ≥ 0.150 checks for OpenTelemetry providers on every request; Onward does
    not configure any unless ONWARD_TELEMETRY=true, so skip that per-request work."""
    if settings.telemetry or "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = database is None
        if database is None:
            explicit = settings.database_url.get_secret_value() if settings.database_url else None
            url = embedded.database_url(explicit, settings.data_dir)
            app.state.db = make_database(make_engine(url, settings), settings.db.timeout_seconds)
            app.state.db.pool = await make_pool(url, settings)
        else:
            app.state.db = database
        app.state.settings = settings
        app.state.tokens = build_token_service(settings)
        app.state.receipts = ReceiptIssuer(
            app.state.tokens,
            controller={"name": settings.controller_name, "contact": settings.controller_contact},
            policy_url=settings.policy_url,
        )
        app.state.pin_checks = PinCheckPool.for_this_machine()
        await ensure_bootstrap_admin(app.state.db, settings)
        workers = (
            background_workers(app.state.db, app.state.tokens, settings)
            if settings.background_tasks
            else []
        )
        for worker in workers:
            worker.start()
        # What start-up made (routes, schemas, pydantic validators) lives as long as the
        # process: freeze it out of the cyclic collector's sight, so full collections under
        # load walk only request garbage and stay short (tail latency). Not in tests, which
        # bring their own database and make an app per test.
        if owned:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            for worker in workers:
                await worker.stop()
            app.state.pin_checks.close()
            if owned:
                await app.state.db.dispose()

    app = FastAPI(
        **_telemetry_off(settings),
        title="Onward API",
        version="1.0.0",
        summary="Tell us once: consent-driven support for people leaving prison.",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        docs_url=None,
        redoc_url=None,
        license_info={"name": "MIT"},
        # A path with an extra slash is 404: a redirect would need an absolute URL, and
        # absolute URLs come from ONWARD_ISSUER only, never from the request's Host.
        redirect_slashes=False,
        # One schema per model: hand-written $refs (merge-patch bodies) stay valid.
        separate_input_output_schemas=False,
    )
    install_error_handlers(app)
    # The body limit refuses an oversized body before anything else reads it; the response
    # headers wrap it, so its 413 carries them too.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(ResponseHeaders, https=settings.https)
    # A GET whose database connection died under it runs once more (errors.RetryReads).
    app.add_middleware(RetryReads)
    # Outermost (added last): a Host the API does not serve is refused before any route
    # sees the request.
    app.add_middleware(HostCheck, allowed=settings.host_names, https=settings.https)

    # The hot operations (the partner read, the token endpoint) are lean routes matched
    # before anything else; every route, lean or not, runs inside the same middleware and
    # is documented by its one registration.
    serve_first(app, profiles.hot_router, oauth.hot_router)

    generate = app.openapi  # with the problem documents of install_error_handlers

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_if_match(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _add_docs(app)
    for module in (
        health,
        wellknown,
        oauth,
        admin,
        organisations,
        consent,
        profiles,
        pin_reset,
        me,
        offers,
        openreferral,
        referrals,
        webhooks,
    ):
        app.include_router(module.router)
    # A fixed path beside the lean read's /v1/profiles/{profile_id}: matched before it.
    serve_before(app, changes.router)
    # The leaver's pages (API.md §8): their routes, sessions and page-level answers.
    pages.install(app, settings)
    return app


def _add_docs(app: FastAPI) -> None:
    """Swagger UI and ReDoc from the app's own static files: closed networks have no CDN."""

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _unframeable(
            get_swagger_ui_html(
                openapi_url="/openapi.json",
                title="Onward API — Swagger UI",
                swagger_js_url="/static/docs/swagger-ui-bundle.js",
                swagger_css_url="/static/docs/swagger-ui.css",
                swagger_favicon_url="/static/docs/favicon-32x32.png",
                swagger_ui_parameters={"persistAuthorization": False, "tryItOutEnabled": True},
            )
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _unframeable(
            get_redoc_html(
                openapi_url="/openapi.json",
                title="Onward API — ReDoc",
                redoc_js_url="/static/docs/redoc.standalone.js",
                redoc_favicon_url="/static/docs/favicon-32x32.png",
                with_google_fonts=False,
            )
        )


def _unframeable(page: HTMLResponse) -> HTMLResponse:
    """No other site may frame the docs (clickjacking "Try it out" with a pasted token)."""
    page.headers["X-Frame-Options"] = "DENY"
    page.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    return page
