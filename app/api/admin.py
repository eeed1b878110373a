"""Organisations and clients, for operators (scope `admin`)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from app.api.deps import Admin
from app.api.params import Cursor, Limit
from app.api.problems import problem, token
from app.api.session import Session
from app.auth import clients, organisations
from app.auth import scopes as S
from app.auth.schemas import (
    Client,
    ClientCreate,
    ClientCreated,
    ClientDisabled,
    ClientPage,
    ClientSecret,
    ClientUpdate,
    Organisation,
    OrganisationCreate,
    OrganisationDisabled,
    OrganisationPage,
)
from app.pagination import DEFAULT_LIMIT
from app.settings import Settings

router = APIRouter(tags=["admin"])

_AUTH = token(S.ADMIN)
_UNKNOWN_CLIENT = _AUTH | problem(404, "No such client")
_UNKNOWN_ORGANISATION = _AUTH | problem(404, "No such organisation")


@router.post(
    "/v1/admin/organisations",
    status_code=201,
    response_model=Organisation,
    summary="Create an organisation",
    responses=_AUTH | problem(422, "Invalid name or kind"),
)
async def create_organisation(body: OrganisationCreate, principal: Admin, session: Session) -> Any:
    """A provider, partner, establishment (prison) or operator organisation. Give it
    clients with `POST /v1/admin/clients`."""
    return await organisations.create_organisation(session, name=body.name, kind=body.kind)


@router.get(
    "/v1/admin/organisations",
    response_model=OrganisationPage,
    summary="List organisations",
    responses=_AUTH | problem(422, "Invalid limit or cursor"),
)
async def list_organisations(
    principal: Admin, session: Session, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Any:
    """Every organisation, newest first."""
    items, next_cursor = await organisations.list_organisations(session, limit=limit, cursor=cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "/v1/admin/organisations/{organisation_id}/disable",
    response_model=OrganisationDisabled,
    summary="Disable an organisation",
    responses=_UNKNOWN_ORGANISATION,
)
async def disable_organisation(organisation_id: str, principal: Admin, session: Session) -> Any:
    """Every client of the organisation is refused from the next request on, on every
    replica: the tokens it holds answer 401 and its secrets get no new token. Its clients
    keep their own `active` flag (re-enabling is a database operation for now). Disabling
    twice is harmless; an unknown id is 404."""
    organisation = await organisations.disable_organisation(session, organisation_id)
    return OrganisationDisabled(id=organisation.id)


@router.post(
    "/v1/admin/clients",
    status_code=201,
    response_model=ClientCreated,
    summary="Create a client",
    responses=_AUTH | problem(422, "Unknown organisation or invalid scopes"),
)
async def create_client(
    body: ClientCreate, principal: Admin, session: Session, request: Request
) -> Any:
    """An OAuth2 client of an organisation, with the scopes it may ask for (any but
    `self`). The answer holds `client_secret`: it is shown this once and stored only as a
    hash. An unknown `organisation_id` is a 422.

    A client that asks leavers for consent (the authorization code flow, API.md §7) needs
    `profiles:read` and `redirect_uris`: exact URLs, `https` (or
    `http://127.0.0.1:<port>/…` and `http://localhost:<port>/…` outside production), with
    no fragment and no user information. A URI that breaks a rule is a 422 naming its
    index, never repeating it."""
    made = await clients.create_client(
        session,
        organisation_id=body.organisation_id,
        name=body.name,
        scopes=body.scopes,
        redirect_uris=body.redirect_uris,
        allow_loopback=_allow_loopback(request),
    )
    return ClientCreated(
        **Client.model_validate(made.client).model_dump(), client_secret=made.client_secret
    )


def _allow_loopback(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return settings.environment != "production"


@router.patch(
    "/v1/admin/clients/{client_id}",
    response_model=Client,
    summary="Change a client's redirect URIs",
    responses=_UNKNOWN_CLIENT | problem(422, "A redirect URI that cannot be registered"),
)
async def update_client(
    client_id: str, body: ClientUpdate, principal: Admin, session: Session, request: Request
) -> Any:
    """Replace the client's `redirect_uris` (the same rules as on creation). Pushed
    requests and codes already made stay bound to the URI they were made for; new pushed
    requests must name one of these. An unknown client is 404."""
    return await clients.set_redirect_uris(
        session, client_id, body.redirect_uris, allow_loopback=_allow_loopback(request)
    )


@router.get(
    "/v1/admin/clients",
    response_model=ClientPage,
    summary="List clients",
    responses=_AUTH | problem(422, "Invalid limit or cursor"),
)
async def list_clients(
    principal: Admin,
    session: Session,
    organisation_id: Annotated[
        uuid.UUID | None, Query(description="Only this organisation's clients.")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Any:
    """Clients, newest first, active or not. Secrets are never listed."""
    items, next_cursor = await clients.list_clients(
        session, limit=limit, cursor=cursor, organisation_id=organisation_id
    )
    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "/v1/admin/clients/{client_id}/rotate-secret",
    response_model=ClientSecret,
    summary="Rotate a client's secret",
    responses=_UNKNOWN_CLIENT,
)
async def rotate_client_secret(client_id: str, principal: Admin, session: Session) -> Any:
    """A new secret, shown this once; the old secret stops working at once. Tokens already
    issued stay valid until they expire (disable the client to cut them off)."""
    made = await clients.rotate_secret(session, client_id)
    return ClientSecret(client_id=made.client.client_id, client_secret=made.client_secret)


@router.post(
    "/v1/admin/clients/{client_id}/disable",
    response_model=ClientDisabled,
    summary="Disable a client",
    responses=_UNKNOWN_CLIENT,
)
async def disable_client(client_id: str, principal: Admin, session: Session) -> Any:
    """The client can no longer get tokens, and every token it holds is refused from the
    next request on, on every replica. Disabling twice is harmless."""
    client = await clients.disable_client(session, client_id)
    return ClientDisabled(client_id=client.client_id)
