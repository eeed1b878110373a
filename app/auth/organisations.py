"""Organisations: created by an operator, listed for admins, looked up by anyone.

The public look-ups exist so a leaver can see who they share with; they return only an
organisation's id, name and kind.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from app.models import Organisation
from app.pagination import newest_first, page_of


async def create_organisation(session: AsyncSession, *, name: str, kind: str) -> Organisation:
    organisation = Organisation(name=name, kind=kind)
    session.add(organisation)
    await session.flush()
    return organisation


async def get_organisation(session: AsyncSession, organisation_id: str) -> Organisation:
    """The organisation with that id; a malformed id is as unknown as a missing one."""
    try:
        key = uuid.UUID(organisation_id)
    except ValueError:
        raise NotFound("No such organisation") from None
    organisation = await session.get(Organisation, key)
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
    organisation: Organisation | None = await session.scalar(
        update(Organisation)
        .where(Organisation.id == key)
        .values(active=False)
        .returning(Organisation)
    )
    if organisation is None:
        raise NotFound("No such organisation")
    return organisation


async def organisation_exists(session: AsyncSession, organisation_id: uuid.UUID) -> bool:
    found = await session.scalar(select(Organisation.id).where(Organisation.id == organisation_id))
    return found is not None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_organisations(
    session: AsyncSession, *, limit: int, cursor: str | None, name_contains: str | None = None
) -> tuple[list[Organisation], str | None]:
    """Newest first; ``name_contains`` matches anywhere in the name, ignoring case."""
    statement = select(Organisation)
    if name_contains:
        pattern = "%" + _escape_like(name_contains.lower()) + "%"
        statement = statement.where(func.lower(Organisation.name).like(pattern, escape="\\"))
    order = (Organisation.created_at, Organisation.id)
    statement = newest_first(statement, order, limit=limit, cursor=cursor)
    rows = (await session.scalars(statement)).all()
    return page_of(rows, limit, lambda o: (o.created_at, o.id))
