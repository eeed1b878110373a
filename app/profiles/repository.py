"""Every statement of the profiles domain, as SQLAlchemy Core over ``app.models``.

**Who may see a profile through a partner read** is decided in one place,
:func:`servable_cuts`: the organisation's stored disclosure cuts (``consent.cuts``
decided them when consent or the profile last changed) that have grants behind them, none
expired. The hot read (:data:`PARTNER_READ`) and the list (:func:`list_servable`) are
both built on it and on nothing else; everything else is 404, exactly like a missing
profile. A token bound to one grant reads through :func:`grant_with_profile`, scoped by
that grant and the caller's organisation.

**The hot path** (DESIGN.md) is one statement on raw asyncpg, a measurement's choice:
:data:`PARTNER_READ` is built here as Core and compiled once, at import, for asyncpg
(``$n`` placeholders); :func:`partner_read_args` orders the arguments by the compiled
statement's own parameter order, never by hand.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeAlias

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Row,
    Select,
    String,
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.log import PROFILE_READ
from app.audit.repository import read_event_insert
from app.auth.principal import Principal
from app.auth.repository import live_condition
from app.db import Database
from app.models.oauth import AuthorizationCode
from app.models.profiles import ConsentGrant, DisclosureCut, Profile
from app.models.referrals import ProgressReading, Referral, ReferralEvent
from app.models.sign_in import PinAttempts
from app.models.web_sessions import WebSession

# A result row of any shape (SQLAlchemy 2.1 types rows by their columns).
AnyRow: TypeAlias = Row[*tuple[Any, ...]]

# ---------------------------------------------------------------------------------------
# The leaver's own profile
# ---------------------------------------------------------------------------------------

_OWN_COLUMNS = (
    Profile.id,
    Profile.reference,
    Profile.data,
    Profile.version,
    Profile.created_at,
    Profile.updated_at,
)


async def insert_profile(
    session: AsyncSession,
    *,
    reference: str,
    pin_hash: str,
    document: dict[str, Any],
    client_id: str,
    now: datetime,
) -> AnyRow | None:
    """A new profile (``id``, ``reference``, ``created_at``), or None when ``reference``
    is taken."""
    return (
        await session.execute(
            insert(Profile)
            .values(
                id=uuid.uuid4(),
                reference=reference,
                pin_hash=pin_hash,
                data=document,
                version=1,
                created_at=now,
                updated_at=now,
                created_by_client_id=client_id,
            )
            .on_conflict_do_nothing(index_elements=[Profile.reference])
            .returning(Profile.id, Profile.reference, Profile.created_at)
        )
    ).one_or_none()


async def own_profile(session: AsyncSession, profile_id: uuid.UUID) -> AnyRow | None:
    return (
        await session.execute(select(*_OWN_COLUMNS).where(Profile.id == profile_id))
    ).one_or_none()


async def lock_document(session: AsyncSession, profile_id: uuid.UUID) -> AnyRow | None:
    """``data`` and ``version``, the row locked (FOR UPDATE) until the transaction ends."""
    return (
        await session.execute(
            select(Profile.data, Profile.version).where(Profile.id == profile_id).with_for_update()
        )
    ).one_or_none()


async def replace_document(
    session: AsyncSession, profile_id: uuid.UUID, document: dict[str, Any], now: datetime
) -> AnyRow:
    """Store ``document`` and bump the version; the own view's columns."""
    return (
        await session.execute(
            update(Profile)
            .where(Profile.id == profile_id)
            .values(data=document, version=Profile.version + 1, updated_at=now)
            .returning(*_OWN_COLUMNS)
        )
    ).one()


# ---------------------------------------------------------------------------------------
# Partner reads
# ---------------------------------------------------------------------------------------

_CUT_COLUMNS = (
    DisclosureCut.profile_id.label("id"),
    DisclosureCut.version,
    DisclosureCut.updated_at,
    DisclosureCut.data,
    DisclosureCut.fields,
    DisclosureCut.grant_ids,
)


def servable_cuts(
    organisation: uuid.UUID | ColumnElement[uuid.UUID], now: datetime | ColumnElement[datetime]
) -> Select[*tuple[Any, ...]]:
    """The choke point: an organisation's servable cuts (``id`` the profile, ``version``,
    ``updated_at``, ``data``, ``fields``, ``grant_ids``).

    A cut is servable while it has grants behind it and none of them has expired
    (``valid_until``, their earliest expiry); a stale one (a grant expired, or a trigger
    marked it) is never served, only recomputed. ``organisation`` and ``now`` are values
    or bound parameters. Every partner read and list is built on this and nothing else.
    """
    return select(*_CUT_COLUMNS).where(
        DisclosureCut.organisation_id == organisation,
        DisclosureCut.valid_until > now,
        func.cardinality(DisclosureCut.grant_ids) > 0,
    )


def _partner_read() -> Select[*tuple[Any, ...]]:
    """The hot path, in one statement and one round trip:

    - ``v``: the organisation's stored cut of the profile, through the choke point, and
      only while the caller's token is live;
    - ``ev``: the access event, recording the cut's own ``fields`` (what is disclosed is
      what is recorded, by construction); written whenever ``v`` has a row, durable
      (autocommit) before the row reaches us;
    - the row: the cut, its document and arrays already as JSON text (PostgreSQL writes
      them as text on the wire anyway: see ``service._render_one``), and whether the
      token is live (looked up only when no cut came back, to tell 401 from 404).
    """
    client = bindparam("client_id", type_=String)
    jti = bindparam("jti", type_=String)
    organisation = bindparam("organisation_id", type_=UUID(as_uuid=True))
    now = bindparam("now", type_=DateTime(timezone=True))
    profile = bindparam("profile_id", type_=UUID(as_uuid=True))
    v = (
        servable_cuts(organisation, now)
        .where(DisclosureCut.profile_id == profile, live_condition(client, jti))
        .cte("v")
    )
    ev = read_event_insert(v, organisation=organisation, client=client, action=PROFILE_READ).cte(
        "ev"
    )
    one = select(true().label("one")).subquery("one")
    return (
        select(
            case((v.c.id.is_not(None), true()), else_=live_condition(client, jti)).label("live"),
            cast(v.c.id, Text).label("id"),
            v.c.version,
            v.c.updated_at,
            cast(v.c.data, Text).label("data"),
            cast(func.array_to_json(v.c.fields), Text).label("fields"),
            cast(func.array_to_json(v.c.grant_ids), Text).label("grant_ids"),
        )
        .select_from(one.outerjoin(v, true()))
        .add_cte(ev)
    )


PARTNER_READ = _partner_read()
_COMPILED = PARTNER_READ.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
# The SQL string raw asyncpg runs ($n placeholders), compiled once from PARTNER_READ.
PARTNER_READ_SQL: str = _COMPILED.string
# What partner_read_args is given; every other parameter is a constant of the statement.
_PARTNER_READ_INPUTS = frozenset({"client_id", "jti", "organisation_id", "now", "profile_id"})


def _argument_plan() -> tuple[tuple[bool, Any], ...]:
    """Per positional parameter, in the compiled order: (an input?, its name or value)."""
    order = _COMPILED.positiontup
    assert order is not None  # asyncpg's paramstyle is positional
    missing = _PARTNER_READ_INPUTS - set(order)
    assert not missing, f"the partner read lost its parameters {missing}"
    return tuple(
        (True, name)
        if name in _PARTNER_READ_INPUTS
        else (False, _COMPILED.binds[name].effective_value)
        for name in order
    )


_ARGUMENT_PLAN = _argument_plan()


def partner_read_args(
    *,
    client_id: str,
    jti: str,
    organisation_id: uuid.UUID,
    now: datetime,
    profile_id: uuid.UUID | None,
) -> list[Any]:
    """The arguments of :data:`PARTNER_READ_SQL`, in its placeholders' order."""
    inputs = {
        "client_id": client_id,
        "jti": jti,
        "organisation_id": organisation_id,
        "now": now,
        "profile_id": profile_id,
    }
    return [inputs[key] if is_input else key for is_input, key in _ARGUMENT_PLAN]


async def fetch_partner_read(
    db: Database,
    *,
    client_id: str,
    jti: str,
    organisation_id: uuid.UUID,
    now: datetime,
    profile_id: uuid.UUID | None,
) -> Any:
    """Run :data:`PARTNER_READ_SQL`: its one row (asyncpg's Record). In production on the
    hot path's pool, each statement committing on its own (autocommit)."""
    args = partner_read_args(
        client_id=client_id,
        jti=jti,
        organisation_id=organisation_id,
        now=now,
        profile_id=profile_id,
    )
    if db.pool is not None:  # production: straight to the pool, autocommit
        async with db.pool.acquire(timeout=db.timeout) as conn:
            return await conn.fetchrow(PARTNER_READ_SQL, *args)
    async with db.raw() as conn:
        return await conn.fetchrow(PARTNER_READ_SQL, *args)


async def list_servable(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    now: datetime,
    *,
    updated_since: datetime | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[AnyRow]:
    """An organisation's servable cuts, most recently changed first (``updated_at``, then
    profile id, descending), at most ``limit``, strictly after the key ``after``."""
    statement = servable_cuts(organisation_id, now)
    if updated_since is not None:
        statement = statement.where(DisclosureCut.updated_at >= updated_since)
    if after is not None:
        statement = statement.where(
            tuple_(DisclosureCut.updated_at, DisclosureCut.profile_id) < tuple_(*after)
        )
    statement = statement.order_by(
        DisclosureCut.updated_at.desc(), DisclosureCut.profile_id.desc()
    ).limit(limit)
    return (await session.execute(statement)).all()


async def grant_with_profile(
    session: AsyncSession,
    principal: Principal,
    now: datetime,
    *,
    profile_id: uuid.UUID | None = None,
    updated_since: datetime | None = None,
) -> AnyRow | None:
    """The live grant a token is bound to, with its profile's document and the
    organisation's cut's ``version`` and ``updated_at``; None when it has ended or is not
    the caller organisation's (or not of ``profile_id``, or unchanged since
    ``updated_since``).

    The profile row is share-locked: a revocation (which locks the profile first, see
    consent.cuts) waits for the reading transaction to commit, and every read after it
    sees the grant ended.
    """
    assert principal.grant_id is not None
    updated_at = func.coalesce(DisclosureCut.updated_at, ConsentGrant.granted_at)
    statement = (
        select(
            Profile.id,
            Profile.data,
            ConsentGrant.id.label("grant_id"),
            ConsentGrant.fields,
            ConsentGrant.expires_at,
            ConsentGrant.explicit,
            func.coalesce(DisclosureCut.version, 1).label("version"),
            updated_at.label("updated_at"),
        )
        .select_from(ConsentGrant)
        .join(Profile, Profile.id == ConsentGrant.profile_id)
        .outerjoin(
            DisclosureCut,
            and_(
                DisclosureCut.profile_id == ConsentGrant.profile_id,
                DisclosureCut.organisation_id == ConsentGrant.organisation_id,
            ),
        )
        .where(
            ConsentGrant.id == principal.grant_id,
            ConsentGrant.organisation_id == principal.org_id,
            ConsentGrant.revoked_at.is_(None),
            ConsentGrant.expires_at > now,
        )
        .with_for_update(read=True, of=Profile)
    )
    if profile_id is not None:
        statement = statement.where(ConsentGrant.profile_id == profile_id)
    if updated_since is not None:
        statement = statement.where(updated_at >= updated_since)
    return (await session.execute(statement)).one_or_none()


# ---------------------------------------------------------------------------------------
# Erasure (profiles.erasure)
# ---------------------------------------------------------------------------------------


async def lock_for_erasure(session: AsyncSession, profile_id: uuid.UUID) -> AnyRow | None:
    """``version`` and ``erased_at``, the row locked (FOR NO KEY UPDATE) until the end."""
    return (
        await session.execute(
            select(Profile.version, Profile.erased_at)
            .where(Profile.id == profile_id)
            .with_for_update(key_share=True)
        )
    ).one_or_none()


async def active_grants(
    session: AsyncSession, profile_id: uuid.UUID, now: datetime
) -> Sequence[AnyRow]:
    """The profile's grants active at ``now`` (``id``, ``organisation_id``), oldest first."""
    return (
        await session.execute(
            select(ConsentGrant.id, ConsentGrant.organisation_id)
            .where(
                ConsentGrant.profile_id == profile_id,
                ConsentGrant.revoked_at.is_(None),
                ConsentGrant.expires_at > now,
            )
            .order_by(ConsentGrant.granted_at, ConsentGrant.id)
        )
    ).all()


async def referral_ids_in(
    session: AsyncSession, profile_id: uuid.UUID, statuses: Sequence[str]
) -> Sequence[uuid.UUID]:
    """The profile's referrals in one of ``statuses``, oldest first."""
    return (
        (
            await session.execute(
                select(Referral.id)
                .where(Referral.profile_id == profile_id, Referral.status.in_(statuses))
                .order_by(Referral.created_at, Referral.id)
            )
        )
        .scalars()
        .all()
    )


async def empty_profile(session: AsyncSession, profile_id: uuid.UUID, now: datetime) -> None:
    """The profile holds nothing any more: no data, no PIN, ``erased_at`` set."""
    await session.execute(
        update(Profile)
        .where(Profile.id == profile_id)
        .values(
            data={},
            pin_hash=None,
            erased_at=now,
            version=Profile.version + 1,
            updated_at=now,
        )
    )


async def forget_leaver_content(session: AsyncSession, profile_id: uuid.UUID) -> None:
    """Delete or null what the leaver wrote or holds elsewhere: progress readings, the
    referrals' messages and the providers' notes to them, browser sessions, unused
    authorization codes and the PIN lock-out counter of the profile's reference."""
    await session.execute(delete(ProgressReading).where(ProgressReading.profile_id == profile_id))
    referral_ids = select(Referral.id).where(Referral.profile_id == profile_id)
    await session.execute(
        update(Referral).where(Referral.profile_id == profile_id).values(message=None)
    )
    await session.execute(
        update(ReferralEvent)
        .where(ReferralEvent.referral_id.in_(referral_ids.scalar_subquery()))
        .values(note=None)
    )
    await session.execute(delete(WebSession).where(WebSession.profile_id == profile_id))
    await session.execute(
        delete(AuthorizationCode).where(AuthorizationCode.profile_id == profile_id)
    )
    await session.execute(
        delete(PinAttempts).where(
            PinAttempts.reference
            == select(Profile.reference).where(Profile.id == profile_id).scalar_subquery()
        )
    )
