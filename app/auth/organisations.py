"""Organisations: created by an operator, listed for admins, looked up by anyone.

The public look-ups exist so a leaver can see who they share with; they return only an
organisation's id, name and kind.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import repository
from app.errors import NotFound
from app.models import Organisation
from app.pagination import page_of


async def create_organisation(session: AsyncSession, *, name: str, kind: str) -> Organisation:
    return await repository.insert_organisation(session, name=name, kind=kind)


async def get_organisation(session: AsyncSession, organisation_id: str) -> Organisation:
    """The organisation with that id; a malformed id is as unknown as a missing one."""
    try:
        key = uuid.UUID(organisation_id)
    except ValueError:
        raise NotFound("No such organisation") from None
    organisation = await repository.organisation_by_id(session, key)
    if organisation is None:
        raise NotFound("No such organisation")
    return organisation


async def disable_organisation(session: AsyncSession, organisation_id: str) -> Organisation:
    """Refuse every client of the organisation, its tokens and secrets, from the next
    request on (liveness is read from the database on every request, on every replica).
    Disabling twice is harmless; a malformed id is as unknown as a missing one."""
    try:
        key = uuid.UUID(organisation_id)
    except ValueError:
        raise NotFound("No such organisation") from None
    organisation = await repository.deactivate_organisation(session, key)
    if organisation is None:
        raise NotFound("No such organisation")
    return organisation


async def organisation_exists(session: AsyncSession, organisation_id: uuid.UUID) -> bool:
    return await repository.organisation_exists(session, organisation_id)


async def list_organisations(
    session: AsyncSession, *, limit: int, cursor: str | None, name_contains: str | None = None
) -> tuple[list[Organisation], str | None]:
    """Newest first; ``name_contains`` matches anywhere in the name, ignoring case."""
    rows = await repository.list_organisations(
        session, limit=limit, cursor=cursor, name_contains=name_contains
    )
    return page_of(rows, limit, lambda o: (o.created_at, o.id))
