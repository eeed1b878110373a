"""Every statement of the access log, its seals and checkpoints, as SQLAlchemy Core.

The access log is append-only (a trigger and the ``onward_app`` role's privileges, see
``audit.log``): nothing here updates or deletes an event. The sealer's statements keep the
chain's order (``audit.seal``): events are read in ``(txid, seq)`` order, only below the
reading statement's snapshot ``xmin``, under a transaction-scoped advisory lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeAlias

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    FromClause,
    Insert,
    Integer,
    Row,
    String,
    Table,
    Text,
    bindparam,
    cast,
    column,
    exists,
    func,
    insert,
    literal,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.identity import Organisation
from app.models.profiles import AccessEvent, AccessEventSeal, AccessLogCheckpoint

# A result row of any shape (SQLAlchemy 2.1 types rows by their columns).
AnyRow: TypeAlias = Row[*tuple[Any, ...]]

# The columns an event is written with, in this order, by every insert below.
_EVENT_INSERT_COLUMNS = (
    "id",
    "profile_id",
    "organisation_id",
    "client_id",
    "action",
    "fields",
    "grant_ids",
    "at",
)

# The sealed content of an event (every column but ``txid``), as ``audit.seal.event_of``
# reads it.
EVENT_COLUMNS = (
    AccessEvent.seq,
    AccessEvent.id,
    AccessEvent.at,
    AccessEvent.profile_id,
    AccessEvent.organisation_id,
    AccessEvent.client_id,
    AccessEvent.action,
    AccessEvent.fields,
    AccessEvent.grant_ids,
)


# ---- Writing events ----------------------------------------------------------------------


def read_event_insert(
    source: FromClause,
    *,
    organisation: ColumnElement[uuid.UUID],
    client: ColumnElement[str],
    action: str,
) -> Insert:
    """The hot read's access event, to be used as a data-modifying CTE of the read.

    ``source`` is a relation of at most one row with ``id`` (the profile), ``fields``
    (the disclosed leaves) and ``grant_ids``; one event is written per row of it. In
    autocommit the event commits with the statement, under synchronous commit, before
    its result reaches the application: nothing can be disclosed that was not recorded,
    and a failed insert fails the whole read. ``fields`` is the stored cut's own column,
    so what is recorded is what is returned, by construction.
    """
    return insert(AccessEvent).from_select(
        _EVENT_INSERT_COLUMNS,
        select(
            func.gen_random_uuid(),
            source.c.id,
            organisation,
            client,
            literal(action, String),
            source.c.fields,
            source.c.grant_ids,
            func.clock_timestamp(),
        ).select_from(source),
    )


# One statement for any number of events (a list read writes one per profile): the events
# travel as one JSON array and PostgreSQL unpacks it (JSON arrays into array columns).
_EVENTS = (
    func.jsonb_to_recordset(bindparam("events", type_=JSONB))
    .table_valued(
        column("id", UUID(as_uuid=True)),
        column("profile_id", UUID(as_uuid=True)),
        column("fields", ARRAY(String(64))),
        column("grant_ids", ARRAY(UUID(as_uuid=True))),
    )
    .render_derived(name="e", with_types=True)
)
# Core tables (``__table__``) for the statements executed with a parameter dict: the ORM
# would take ``insert(Entity)`` with parameters for a bulk insert of entities.
_EVENTS_TABLE: Table = AccessEvent.metadata.tables[AccessEvent.__tablename__]
_SEALS_TABLE: Table = AccessEventSeal.metadata.tables[AccessEventSeal.__tablename__]
_INSERT_EVENTS = insert(_EVENTS_TABLE).from_select(
    _EVENT_INSERT_COLUMNS,
    select(
        _EVENTS.c.id,
        _EVENTS.c.profile_id,
        bindparam("organisation_id", type_=UUID(as_uuid=True)),
        bindparam("client_id", type_=String),
        bindparam("action", type_=String),
        _EVENTS.c.fields,
        _EVENTS.c.grant_ids,
        func.clock_timestamp(),
    ),
)


async def insert_events(
    session: AsyncSession,
    *,
    organisation_id: uuid.UUID | None,
    client_id: str,
    action: str,
    events: list[dict[str, Any]],
) -> None:
    """Append ``events`` (``id``, ``profile_id``, ``fields``, ``grant_ids``, as JSON
    values) in one statement, each stamped with ``clock_timestamp()``."""
    await session.execute(
        _INSERT_EVENTS,
        {
            "organisation_id": organisation_id,
            "client_id": client_id,
            "action": action,
            "events": events,
        },
    )


async def insert_leaver_event(
    session: AsyncSession, *, profile_id: uuid.UUID, client_id: str, action: str, at: datetime
) -> None:
    """An event of the leaver's own (an export, the erasure): no organisation, no fields."""
    await session.execute(
        insert(AccessEvent).values(
            id=uuid.uuid4(),
            profile_id=profile_id,
            organisation_id=None,
            client_id=client_id,
            action=action,
            fields=[],
            grant_ids=[],
            at=at,
        )
    )


# ---- Reading the log ---------------------------------------------------------------------


async def events_of_profile(
    session: AsyncSession, *, profile_id: uuid.UUID, limit: int, before: int | None
) -> Sequence[AnyRow]:
    """One profile's events, newest first, at most ``limit``, ``seq`` below ``before``;
    each with its organisation's name and its seal (None until sealed). Keyset pages walk
    ix_access_events_profile_seq (profile_id, seq DESC)."""
    statement = (
        select(
            AccessEvent.seq,
            AccessEvent.id,
            AccessEvent.at,
            AccessEvent.action,
            AccessEvent.organisation_id,
            Organisation.name.label("organisation_name"),
            AccessEvent.client_id,
            AccessEvent.fields,
            AccessEvent.grant_ids,
            AccessEventSeal.seal,
        )
        .select_from(AccessEvent)
        .outerjoin(Organisation, Organisation.id == AccessEvent.organisation_id)
        .outerjoin(AccessEventSeal, AccessEventSeal.event_seq == AccessEvent.seq)
        .where(AccessEvent.profile_id == profile_id)
        .order_by(AccessEvent.seq.desc())
        .limit(limit)
    )
    if before is not None:
        statement = statement.where(AccessEvent.seq < before)
    return (await session.execute(statement)).all()


def _chain_key(txid: int, seq: int) -> ColumnElement[Any]:
    """A ``(txid, seq)`` key as bound bigints (a txid can pass 2^31)."""
    return tuple_(literal(txid, BigInteger), literal(seq, BigInteger))


# ---- Sealing -----------------------------------------------------------------------------


async def lock_sealing(session: AsyncSession, key: int) -> None:
    """Take the sealing rounds' transaction-scoped advisory lock (rounds take turns)."""
    await session.execute(select(func.pg_advisory_xact_lock(key)))


async def chain_head(session: AsyncSession) -> AnyRow | None:
    """The last seal (``position``, ``seal``, ``event_txid``, ``event_seq``), or None."""
    return (
        await session.execute(
            select(
                AccessEventSeal.position,
                AccessEventSeal.seal,
                AccessEventSeal.event_txid,
                AccessEventSeal.event_seq,
            )
            .order_by(AccessEventSeal.position.desc())
            .limit(1)
        )
    ).one_or_none()


# Every transaction below the statement's snapshot xmin has ended: no event can later
# commit with a smaller txid.
_SNAPSHOT_XMIN = cast(cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger)


# A sealing round's events, from the SQL compiled once from this Core statement. It runs
# on the session's own asyncpg connection (same transaction: under the sealing lock, in
# its snapshot) because a round is large: 5,000 rows cost ~100 ms of CPU through the ORM
# result layer and ~16 ms as asyncpg records (measured on the bench database), and that
# CPU is taken from the reads the same process serves.
_SETTLED_UNSEALED = (
    select(AccessEvent.txid, *EVENT_COLUMNS)
    .where(
        AccessEvent.txid < _SNAPSHOT_XMIN,
        tuple_(AccessEvent.txid, AccessEvent.seq)
        > tuple_(
            bindparam("after_txid", type_=BigInteger), bindparam("after_seq", type_=BigInteger)
        ),
    )
    .order_by(AccessEvent.txid, AccessEvent.seq)
    .limit(bindparam("round_limit", type_=Integer))
)
_SETTLED_COMPILED = _SETTLED_UNSEALED.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
SETTLED_UNSEALED_SQL: str = _SETTLED_COMPILED.string
_SETTLED_ORDER: tuple[str, ...] = tuple(_SETTLED_COMPILED.positiontup or ())


async def settled_unsealed(
    session: AsyncSession, *, after: tuple[int, int], limit: int
) -> list[Any]:
    """The settled events after ``after`` (``(txid, seq)``), in chain order, as records of
    ``txid`` and :data:`EVENT_COLUMNS` (read by column name)."""
    values = {"after_txid": after[0], "after_seq": after[1], "round_limit": limit}
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    records = await driver.fetch(SETTLED_UNSEALED_SQL, *(values[n] for n in _SETTLED_ORDER))
    return list(records)


# One statement for a whole round's seals: parallel arrays, unnested together.
_SEAL_ROWS = (
    func.unnest(
        bindparam("positions", type_=ARRAY(BigInteger)),
        bindparam("seqs", type_=ARRAY(BigInteger)),
        bindparam("txids", type_=ARRAY(BigInteger)),
        bindparam("seals", type_=ARRAY(String)),
        bindparam("ats", type_=ARRAY(DateTime(timezone=True))),
    )
    .table_valued("position", "event_seq", "event_txid", "seal", "sealed_at")
    .render_derived(name="s")
)
_INSERT_SEALS = insert(_SEALS_TABLE).from_select(
    ("position", "event_seq", "event_txid", "seal", "sealed_at"),
    select(
        _SEAL_ROWS.c.position,
        _SEAL_ROWS.c.event_seq,
        _SEAL_ROWS.c.event_txid,
        _SEAL_ROWS.c.seal,
        _SEAL_ROWS.c.sealed_at,
    ),
)


async def insert_seals(
    session: AsyncSession,
    *,
    positions: list[int],
    seqs: list[int],
    txids: list[int],
    seals: list[str],
    at: datetime,
) -> None:
    await session.execute(
        _INSERT_SEALS,
        {
            "positions": positions,
            "seqs": seqs,
            "txids": txids,
            "seals": seals,
            "ats": [at] * len(positions),
        },
    )


async def insert_checkpoint(
    session: AsyncSession, *, position: int, seal: str, signed: str, at: datetime
) -> None:
    await session.execute(
        insert(AccessLogCheckpoint).values(
            position=position, seal=seal, signed=signed, created_at=at
        )
    )


# ---- Verifying ---------------------------------------------------------------------------


async def seals_after(session: AsyncSession, *, after: int, limit: int) -> Sequence[AnyRow]:
    """Seals past ``position`` ``after``, in order, each with its event (columns None when
    the event is gone): ``position``, ``event_seq``, ``event_txid``, ``seal``, the event's
    ``txid`` and :data:`EVENT_COLUMNS`."""
    return (
        await session.execute(
            select(
                AccessEventSeal.position,
                AccessEventSeal.event_seq,
                AccessEventSeal.event_txid,
                AccessEventSeal.seal,
                AccessEvent.txid,
                *EVENT_COLUMNS,
            )
            .select_from(AccessEventSeal)
            .outerjoin(AccessEvent, AccessEvent.seq == AccessEventSeal.event_seq)
            .where(AccessEventSeal.position > after)
            .order_by(AccessEventSeal.position)
            .limit(limit)
        )
    ).all()


async def first_unsealed_behind(session: AsyncSession, *, txid: int, seq: int) -> AnyRow | None:
    """The first event (``seq``, ``id``) at or before ``(txid, seq)`` with no seal."""
    return (
        await session.execute(
            select(AccessEvent.seq, AccessEvent.id)
            .where(
                tuple_(AccessEvent.txid, AccessEvent.seq) <= _chain_key(txid, seq),
                ~exists().where(AccessEventSeal.event_seq == AccessEvent.seq),
            )
            .order_by(AccessEvent.txid, AccessEvent.seq)
            .limit(1)
        )
    ).one_or_none()


async def checkpoints(session: AsyncSession) -> Sequence[AnyRow]:
    """Every stored checkpoint (``position``, ``seal``, ``signed``), in order."""
    return (
        await session.execute(
            select(
                AccessLogCheckpoint.position, AccessLogCheckpoint.seal, AccessLogCheckpoint.signed
            ).order_by(AccessLogCheckpoint.position)
        )
    ).all()
