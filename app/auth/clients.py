"""API clients (OAuth2 confidential clients) of organisations.

A client's secret is made here, returned once to the caller that created or rotated it,
and stored only as a hash (``secrets.py``). Disabling a client takes effect on the next
request its tokens make, on every replica: ``principal.confirm_live`` reads
``clients.active`` from the database each time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import repository
from app.auth import scopes as S
from app.auth.organisations import organisation_exists
from app.auth.redirect_uris import validate_redirect_uris
from app.auth.secrets import hash_secret, new_client_id, new_client_secret, verify_secret
from app.db import Database
from app.errors import NotFound, ValidationFailed
from app.models import Client
from app.pagination import page_of


@dataclass(frozen=True)
class ClientWithSecret:
    """A client together with its plain secret: exists only in the response that shows it."""

    client: Client
    client_secret: str


def client_scopes(requested: Iterable[str]) -> list[str]:
    """The scopes a client may be given, in canonical order; 422 for ``self`` or unknown."""
    wanted = set(requested)
    if not wanted:
        raise ValidationFailed("Give the client at least one scope", loc=["body", "scopes"])
    if S.SELF in wanted:
        raise ValidationFailed(
            "The self scope is only ever in a leaver's token", loc=["body", "scopes"]
        )
    unknown = wanted - set(S.CLIENT_SCOPES)
    if unknown:
        raise ValidationFailed(
            "Unknown scope; the client scopes are: " + " ".join(S.CLIENT_SCOPES),
            loc=["body", "scopes"],
        )
    return [s for s in S.CLIENT_SCOPES if s in wanted]


async def create_client(
    session: AsyncSession,
    *,
    organisation_id: uuid.UUID,
    name: str,
    scopes: Iterable[str],
    redirect_uris: list[str] | None = None,
    allow_loopback: bool = True,
) -> ClientWithSecret:
    granted = client_scopes(scopes)
    uris = validate_redirect_uris(redirect_uris or [], allow_loopback=allow_loopback)
    if not await organisation_exists(session, organisation_id):
        raise ValidationFailed("No such organisation", loc=["body", "organisation_id"])
    secret = new_client_secret()
    client = await repository.insert_client(
        session,
        client_id=new_client_id(),
        organisation_id=organisation_id,
        name=name,
        scopes=granted,
        secret_hash=hash_secret(secret),
        redirect_uris=uris,
    )
    return ClientWithSecret(client, secret)


async def rotate_secret(session: AsyncSession, client_id: str) -> ClientWithSecret:
    """A new secret for the client; the old one stops working at once.

    Tokens already issued stay valid until they expire (at most the token lifetime);
    disable the client to cut them off too.
    """
    secret = new_client_secret()
    client = await repository.update_client(session, client_id, secret_hash=hash_secret(secret))
    if client is None:
        raise NotFound("No such client")
    return ClientWithSecret(client, secret)


async def set_redirect_uris(
    session: AsyncSession, client_id: str, redirect_uris: list[str], *, allow_loopback: bool
) -> Client:
    """Replace the client's redirect URIs. Codes and pushed requests already made keep the
    URI they were bound to; new requests must use one of these."""
    uris = validate_redirect_uris(redirect_uris, allow_loopback=allow_loopback)
    client = await repository.update_client(session, client_id, redirect_uris=uris)
    if client is None:
        raise NotFound("No such client")
    return client


async def disable_client(session: AsyncSession, client_id: str) -> Client:
    """Refuse the client's secret and every token it holds, from the next request on."""
    client = await repository.update_client(session, client_id, active=False)
    if client is None:
        raise NotFound("No such client")
    return client


async def list_clients(
    session: AsyncSession,
    *,
    limit: int,
    cursor: str | None,
    organisation_id: uuid.UUID | None = None,
) -> tuple[list[Client], str | None]:
    """Newest first, active or not."""
    rows = await repository.list_clients(
        session, limit=limit, cursor=cursor, organisation_id=organisation_id
    )
    return page_of(rows, limit, lambda c: (c.created_at, c.client_id))


@dataclass(frozen=True, slots=True)
class AuthenticatedClient:
    client_id: str
    organisation_id: uuid.UUID
    scopes: list[str]
    redirect_uris: tuple[str, ...] = ()


async def authenticate_client(
    db: Database, client_id: str, secret: str
) -> AuthenticatedClient | None:
    """The active client with that id and secret, else None (whichever part was wrong)."""
    # One autocommit statement on the plain pool: the token endpoint is a hot path too
    # (its SQL compiled once from the Core statement, repository.CLIENT_BY_ID_SQL).
    async with db.raw() as conn:
        client = await repository.client_by_id(conn, client_id)
    if client is None:
        # Same work as a wrong secret, so the answer's timing does not reveal the id.
        verify_secret(secret, hash_secret(""))
        return None
    if not verify_secret(secret, client["secret_hash"]) or not client["active"]:
        return None
    return AuthenticatedClient(
        client["client_id"],
        client["organisation_id"],
        list(client["scopes"]),
        tuple(client["redirect_uris"]),
    )
