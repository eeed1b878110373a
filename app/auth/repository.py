"""Every statement of the auth domain: SQLAlchemy Core over the tables in ``app/models/``.

The service modules beside this one (``codes.py``, ``throttle.py``, ``pin_sign_in.py``,
``clients.py`` …) decide; this module reads and writes. Nothing here commits: the caller
owns the transaction (a request's, or a short one of its own where the service says so).

Statements that run on every attempt are built once, at import, with named
:func:`~sqlalchemy.bindparam` placeholders, and executed with a dict of values, as the
``text()`` statements they replace were; SQLAlchemy caches their compiled form. In an
``UPDATE`` a placeholder never bears a column's name: SQLAlchemy would take a value of
that name for ``SET column = …``.

Atomicity is the statements' own and must stay so (see each service's docstring):

* a pushed request is consumed, and a code presented, by one ``UPDATE … RETURNING``;
* a sign-in attempt is counted per address, and a PIN attempt per reference, by one
  ``INSERT … ON CONFLICT DO UPDATE``, whose ``SET`` PostgreSQL evaluates on the locked,
  latest version of the row;
* the bootstrap admin is made under one transaction-scoped advisory lock.

The token endpoint's client look-up (:data:`CLIENT_BY_ID_SQL`) runs on raw asyncpg, the
hot path's pool: its SQL is compiled once, here, from the Core statement, and its
parameters are passed in the order that compilation gives.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    Interval,
    Row,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    extract,
    func,
    insert,
    literal,
    not_,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import (
    AuthorizationCode,
    AuthorizationRequest,
    Base,
    Client,
    ConsentGrant,
    Organisation,
    PinAttempts,
    Profile,
    RevokedToken,
    SignInAttempts,
    WebSession,
)
from app.pagination import newest_first

# A result row, read by column name.
AnyRow = Row[*tuple[Any, ...]]


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


_clients = _table(Client)
_organisations = _table(Organisation)
_requests = _table(AuthorizationRequest)
_codes = _table(AuthorizationCode)
_grants = _table(ConsentGrant)
_revoked = _table(RevokedToken)
_profiles = _table(Profile)
_pin_attempts = _table(PinAttempts)
_sign_in_attempts = _table(SignInAttempts)
_web_sessions = _table(WebSession)


def _interval(name: str) -> Any:
    """A bound interval: pass a :class:`~datetime.timedelta`."""
    return bindparam(name, type_=Interval)


def _ago(delta: timedelta) -> Any:
    """``now() - delta``, the interval bound."""
    return func.now() - literal(delta, Interval)


# =======================================================================================
# Organisations
# =======================================================================================


async def insert_organisation(session: AsyncSession, *, name: str, kind: str) -> Organisation:
    organisation: Organisation = (
        await session.scalars(
            insert(Organisation).values(name=name, kind=kind).returning(Organisation)
        )
    ).one()
    return organisation


async def organisation_by_id(
    session: AsyncSession, organisation_id: uuid.UUID
) -> Organisation | None:
    found: Organisation | None = await session.scalar(
        select(Organisation).where(Organisation.id == organisation_id)
    )
    return found


async def deactivate_organisation(
    session: AsyncSession, organisation_id: uuid.UUID
) -> Organisation | None:
    organisation: Organisation | None = await session.scalar(
        update(Organisation)
        .where(Organisation.id == organisation_id)
        .values(active=False)
        .returning(Organisation)
    )
    return organisation


async def organisation_exists(session: AsyncSession, organisation_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(_organisations.c.id).where(_organisations.c.id == organisation_id)
    )
    return found is not None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_organisations(
    session: AsyncSession, *, limit: int, cursor: str | None, name_contains: str | None
) -> Sequence[Organisation]:
    """Up to ``limit + 1``, newest first; ``name_contains`` anywhere in the name, any case."""
    statement = select(Organisation)
    if name_contains:
        pattern = "%" + _escape_like(name_contains.lower()) + "%"
        statement = statement.where(func.lower(Organisation.name).like(pattern, escape="\\"))
    order = (Organisation.created_at, Organisation.id)
    statement = newest_first(statement, order, limit=limit, cursor=cursor)
    return (await session.scalars(statement)).all()


# =======================================================================================
# Clients
# =======================================================================================


async def insert_client(
    session: AsyncSession,
    *,
    client_id: str,
    organisation_id: uuid.UUID,
    name: str,
    scopes: list[str],
    secret_hash: str,
    redirect_uris: list[str],
) -> Client:
    client: Client = (
        await session.scalars(
            insert(Client)
            .values(
                client_id=client_id,
                organisation_id=organisation_id,
                name=name,
                scopes=scopes,
                secret_hash=secret_hash,
                active=True,
                redirect_uris=redirect_uris,
            )
            .returning(Client)
        )
    ).one()
    return client


async def update_client(
    session: AsyncSession,
    client_id: str,
    *,
    secret_hash: str | None = None,
    redirect_uris: list[str] | None = None,
    active: bool | None = None,
) -> Client | None:
    """Set what is given on the client and stamp ``updated_at``; None if there is none."""
    given = {"secret_hash": secret_hash, "redirect_uris": redirect_uris, "active": active}
    client: Client | None = await session.scalar(
        update(Client)
        .where(Client.client_id == client_id)
        .values({name: value for name, value in given.items() if value is not None})
        .values(updated_at=func.now())
        .returning(Client)
    )
    return client


async def list_clients(
    session: AsyncSession, *, limit: int, cursor: str | None, organisation_id: uuid.UUID | None
) -> Sequence[Client]:
    """Up to ``limit + 1``, newest first, active or not."""
    statement = select(Client)
    if organisation_id is not None:
        statement = statement.where(Client.organisation_id == organisation_id)
    order = (Client.created_at, Client.client_id)
    statement = newest_first(statement, order, limit=limit, cursor=cursor)
    return (await session.scalars(statement)).all()


# The token endpoint's look-up: one autocommit statement on the hot path's pool.
# ``active``: the client and its organisation (a disabled organisation's clients get no
# token, as the liveness check in principal.py refuses the tokens they hold).
_CLIENT_BY_ID = (
    select(
        _clients.c.client_id,
        _clients.c.organisation_id,
        _clients.c.scopes,
        _clients.c.secret_hash,
        _clients.c.redirect_uris,
        and_(_clients.c.active, _organisations.c.active).label("active"),
    )
    .select_from(_clients.join(_organisations, _organisations.c.id == _clients.c.organisation_id))
    .where(_clients.c.client_id == bindparam("client_id"))
)
_CLIENT_BY_ID_COMPILED = _CLIENT_BY_ID.compile(
    dialect=asyncpg_dialect.dialect()  # type: ignore[no-untyped-call]
)
# Compiled once, here: ``$n`` placeholders, and the names they stand for in that order.
CLIENT_BY_ID_SQL = str(_CLIENT_BY_ID_COMPILED)
_CLIENT_BY_ID_ORDER = tuple(_CLIENT_BY_ID_COMPILED.positiontup or ())


async def client_by_id(conn: asyncpg.Connection, client_id: str) -> Mapping[str, Any] | None:
    """The client's id, organisation, scopes, secret hash, redirect URIs and whether it and
    its organisation are active, on a raw asyncpg connection; None if there is no such."""
    values = {"client_id": client_id}
    record: Mapping[str, Any] | None = await conn.fetchrow(
        CLIENT_BY_ID_SQL, *(values[name] for name in _CLIENT_BY_ID_ORDER)
    )
    return record


# =======================================================================================
# Pushed authorization requests and codes (codes.py)
# =======================================================================================

# Rows past any use are forgotten this long after: expired requests, and codes whose
# token would have expired anyway.
_FORGET_AFTER = timedelta(minutes=10)

_FORGET_REQUESTS = delete(_requests).where(_requests.c.expires_at < _ago(_FORGET_AFTER))
_FORGET_CODES = delete(_codes).where(
    func.coalesce(_codes.c.token_expires_at, _codes.c.expires_at) < _ago(_FORGET_AFTER)
)


async def forget_old_requests(session: AsyncSession) -> None:
    await session.execute(_FORGET_REQUESTS)


async def forget_old_codes(session: AsyncSession) -> None:
    await session.execute(_FORGET_CODES)


async def insert_request(
    session: AsyncSession,
    *,
    handle_hash: str,
    client_id: str,
    redirect_uri: str,
    state: str | None,
    code_challenge: str,
    fields: list[str],
    purpose: str,
    grant_expires_at: datetime | None,
    ttl: timedelta,
) -> None:
    await session.execute(
        insert(_requests).values(
            handle_hash=handle_hash,
            client_id=client_id,
            redirect_uri=redirect_uri,
            state=state,
            code_challenge=code_challenge,
            fields=fields,
            purpose=purpose,
            grant_expires_at=grant_expires_at,
            created_at=func.now(),
            expires_at=func.now() + literal(ttl, Interval),
        )
    )


# One UPDATE, whose row lock makes the request single-use however many browsers race.
_CONSUME_REQUEST = (
    update(_requests)
    .where(
        _requests.c.handle_hash == bindparam("request_handle_hash"),
        _requests.c.client_id == bindparam("request_client_id"),
        _clients.c.client_id == _requests.c.client_id,
        _organisations.c.id == _clients.c.organisation_id,
        _clients.c.active,
        _organisations.c.active,
        _requests.c.used_at.is_(None),
        _requests.c.expires_at > func.now(),
        _requests.c.redirect_uri == _clients.c.redirect_uris.any_(),
    )
    .values(used_at=func.now())
    .returning(
        _requests.c.client_id,
        _requests.c.redirect_uri,
        _requests.c.state,
        _requests.c.code_challenge,
        _requests.c.fields,
        _requests.c.purpose,
        _requests.c.grant_expires_at,
        _organisations.c.id.label("organisation_id"),
        _organisations.c.name.label("organisation_name"),
    )
)


async def consume_request(
    session: AsyncSession, *, handle_hash: str, client_id: str
) -> AnyRow | None:
    """The request, used up now, with its client's organisation; None when it is unknown,
    another client's, expired, used, or its redirect URI or client is no longer live."""
    return (
        await session.execute(
            _CONSUME_REQUEST, {"request_handle_hash": handle_hash, "request_client_id": client_id}
        )
    ).one_or_none()


_STILL_REGISTERED = (
    select(
        and_(
            bindparam("redirect_uri") == _clients.c.redirect_uris.any_(),
            _clients.c.active,
            _organisations.c.active,
        )
    )
    .select_from(_clients.join(_organisations, _organisations.c.id == _clients.c.organisation_id))
    .where(_clients.c.client_id == bindparam("client_id"))
)


async def still_registered(session: AsyncSession, *, client_id: str, redirect_uri: str) -> bool:
    value = (
        await session.execute(
            _STILL_REGISTERED, {"redirect_uri": redirect_uri, "client_id": client_id}
        )
    ).scalar_one_or_none()
    return value is True


async def insert_code(
    session: AsyncSession,
    *,
    code_hash: str,
    client_id: str,
    redirect_uri: str,
    code_challenge: str,
    profile_id: uuid.UUID,
    grant_id: uuid.UUID,
    ttl: timedelta,
) -> None:
    await session.execute(
        insert(_codes).values(
            code_hash=code_hash,
            client_id=client_id,
            redirect_uri=redirect_uri,
            code_challenge=code_challenge,
            profile_id=profile_id,
            grant_id=grant_id,
            created_at=func.now(),
            expires_at=func.now() + literal(ttl, Interval),
        )
    )


# One presentation of a code by the client it was issued to: counted, and the row locked
# until the caller's transaction commits (codes.py's module docstring).
_PRESENT_CODE = (
    update(_codes)
    .where(
        _codes.c.code_hash == bindparam("presented_code_hash"),
        _codes.c.client_id == bindparam("presenting_client_id"),
    )
    .values(uses=_codes.c.uses + 1)
    .returning(
        _codes.c.uses,
        _codes.c.redirect_uri,
        _codes.c.code_challenge,
        _codes.c.profile_id,
        _codes.c.grant_id,
        (_codes.c.expires_at > func.now()).label("fresh"),
        _codes.c.token_jti,
        _codes.c.token_expires_at,
    )
)


async def present_code(session: AsyncSession, *, code_hash: str, client_id: str) -> AnyRow | None:
    return (
        await session.execute(
            _PRESENT_CODE, {"presented_code_hash": code_hash, "presenting_client_id": client_id}
        )
    ).one_or_none()


_GRANT_OF_CODE = select(
    _grants.c.id, _grants.c.fields, _grants.c.purpose, _grants.c.expires_at
).where(
    _grants.c.id == bindparam("grant_id"),
    _grants.c.organisation_id == bindparam("organisation_id"),
    _grants.c.revoked_at.is_(None),
    _grants.c.expires_at > func.now(),
)


async def live_grant(
    session: AsyncSession, *, grant_id: uuid.UUID, organisation_id: uuid.UUID
) -> AnyRow | None:
    """The grant, if it is the organisation's and neither revoked nor expired."""
    return (
        await session.execute(
            _GRANT_OF_CODE, {"grant_id": grant_id, "organisation_id": organisation_id}
        )
    ).one_or_none()


_REMEMBER_TOKEN = (
    update(_codes)
    .where(_codes.c.code_hash == bindparam("remembered_code_hash"))
    .values(token_jti=bindparam("issued_jti"), token_expires_at=bindparam("issued_expires_at"))
)


async def remember_token(
    session: AsyncSession, *, code_hash: str, jti: str, expires_at: datetime
) -> None:
    await session.execute(
        _REMEMBER_TOKEN,
        {"remembered_code_hash": code_hash, "issued_jti": jti, "issued_expires_at": expires_at},
    )


# =======================================================================================
# Revoked tokens (revocation.py, codes.py)
# =======================================================================================

_REVOKE = (
    pg_insert(_revoked)
    .values(
        jti=bindparam("jti"),
        expires_at=bindparam("expires_at"),
        revoked_at=func.now(),
    )
    .on_conflict_do_nothing(index_elements=[_revoked.c.jti])
)
_FORGET_REVOKED = delete(_revoked).where(_revoked.c.expires_at < func.now() - _interval("margin"))


async def revoke_jti(session: AsyncSession, *, jti: str, expires_at: datetime) -> None:
    """Record the ``jti`` as revoked until ``expires_at`` (once; a repeat changes nothing)."""
    await session.execute(_REVOKE, {"jti": jti, "expires_at": expires_at})


async def forget_revoked(session: AsyncSession, *, margin: timedelta) -> None:
    """Forget revocations of tokens that expired more than ``margin`` ago."""
    await session.execute(_FORGET_REVOKED, {"margin": margin})


# =======================================================================================
# Per-address sign-in limit (throttle.py)
# =======================================================================================

_window = _interval("window")
_per_minute = bindparam("per_minute", type_=Integer)
_attempt_at = func.unnest(_sign_in_attempts.c.attempted_at).column_valued("t")
# The address's attempts still inside the window, oldest first (ARRAY(SELECT …): an
# empty array, never NULL, when none is).
_recent = func.array(
    select(_attempt_at)
    .where(_attempt_at > func.now() - _window)
    .order_by(_attempt_at)
    .scalar_subquery(),
    type_=ARRAY(DateTime(timezone=True)),
)
_full = func.cardinality(_recent) >= _per_minute
# The references to sign_in_attempts in SET are the existing row; in RETURNING, the new.
_COUNT_SIGN_IN = (
    pg_insert(_sign_in_attempts)
    .values(
        address=bindparam("address"),
        attempted_at=array([func.now()]),
        refused=False,
        updated_at=func.now(),
    )
    .on_conflict_do_update(
        index_elements=[_sign_in_attempts.c.address],
        set_={
            "refused": _full,
            "attempted_at": case((_full, _recent), else_=func.array_append(_recent, func.now())),
            "updated_at": func.now(),
        },
    )
    .returning(
        _sign_in_attempts.c.refused,
        cast(
            func.ceil(
                extract(
                    "epoch",
                    _sign_in_attempts.c.attempted_at[
                        func.greatest(
                            1, func.cardinality(_sign_in_attempts.c.attempted_at) - _per_minute + 1
                        )
                    ]
                    + _window
                    - func.now(),
                )
            ),
            Integer,
        ).label("retry_after"),
    )
)


async def count_sign_in(
    session: AsyncSession, *, address: str, per_minute: int, window: timedelta
) -> AnyRow:
    """Count one attempt from ``address`` unless ``per_minute`` are already in the last
    ``window``: ``refused`` says which, ``retry_after`` (seconds) when the oldest leaves."""
    return (
        await session.execute(
            _COUNT_SIGN_IN, {"address": address, "per_minute": per_minute, "window": window}
        )
    ).one()


_PRUNE_ADDRESSES = delete(_sign_in_attempts).where(
    _sign_in_attempts.c.updated_at < func.now() - _interval("window")
)
_PRUNE_PIN_COUNTERS = delete(_pin_attempts).where(
    _pin_attempts.c.updated_at < func.now() - _interval("idle"),
    or_(_pin_attempts.c.locked_until.is_(None), _pin_attempts.c.locked_until < func.now()),
)


async def prune_sign_in_state(
    session: AsyncSession, *, window: timedelta, pin_counter_idle: timedelta
) -> None:
    """Delete addresses with no attempt in ``window`` and PIN counters idle for
    ``pin_counter_idle`` and not locked."""
    await session.execute(_PRUNE_ADDRESSES, {"window": window})
    await session.execute(_PRUNE_PIN_COUNTERS, {"idle": pin_counter_idle})


# =======================================================================================
# Per-reference PIN lock-out (pin_sign_in.py) and PIN reset (pin_reset.py)
# =======================================================================================

_reference = bindparam("reference", type_=_pin_attempts.c.reference.type)
_max_attempts = bindparam("max_attempts", type_=Integer)
_lock = _interval("lock")
_pa = _pin_attempts.c
# One statement per attempt: count it against the reference (issued or not) and read the
# profile's hash. An erased profile is not joined: its reference is counted and checked
# against the dummy hash exactly like one never issued. A slot is taken while fewer than
# max_attempts are counted and no lock holds, or when the lock has run out (the count
# restarts); the slot that makes max_attempts sets the lock. `refused` says whether this
# attempt got no slot. In SET, pin_attempts' columns are the existing (locked) row.
_ATTEMPT_CTE = (
    pg_insert(_pin_attempts)
    .values(
        reference=_reference,
        failed_attempts=1,
        locked_until=null(),
        refused=False,
        updated_at=func.now(),
    )
    .on_conflict_do_update(
        index_elements=[_pa.reference],
        set_={
            "failed_attempts": case(
                (_pa.locked_until <= func.now(), 1),
                (
                    and_(_pa.locked_until.is_(None), _pa.failed_attempts < _max_attempts),
                    _pa.failed_attempts + 1,
                ),
                else_=_pa.failed_attempts,
            ),
            "locked_until": case(
                (_pa.locked_until <= func.now(), null()),
                (
                    and_(_pa.locked_until.is_(None), _pa.failed_attempts + 1 >= _max_attempts),
                    func.now() + _lock,
                ),
                else_=_pa.locked_until,
            ),
            "refused": case(
                (_pa.locked_until.is_(None), _pa.failed_attempts >= _max_attempts),
                else_=_pa.locked_until > func.now(),
            ),
            "updated_at": func.now(),
        },
    )
    .returning(_pa.refused, _pa.locked_until)
    .cte("attempt")
)
_PIN_ATTEMPT = select(
    _ATTEMPT_CTE.c.refused,
    cast(func.ceil(extract("epoch", _ATTEMPT_CTE.c.locked_until - func.now())), Integer).label(
        "seconds_left"
    ),
    _profiles.c.id,
    _profiles.c.pin_hash,
).select_from(
    _ATTEMPT_CTE.outerjoin(
        _profiles,
        and_(_profiles.c.reference == _reference, _profiles.c.erased_at.is_(None)),
    )
)


async def count_pin_attempt(
    session: AsyncSession, *, reference: str, max_attempts: int, lock: timedelta
) -> AnyRow:
    """Count one PIN attempt against ``reference``: ``refused``, ``seconds_left`` of a lock,
    and the live profile's ``id`` and ``pin_hash`` (None for a reference nobody holds)."""
    return (
        await session.execute(
            _PIN_ATTEMPT, {"reference": reference, "max_attempts": max_attempts, "lock": lock}
        )
    ).one()


_CLEAR_PIN_ATTEMPTS = delete(_pin_attempts).where(_pa.reference == bindparam("reference"))


async def clear_pin_attempts(session: AsyncSession, *, reference: str) -> None:
    """The reference's count and lock go (a right PIN, a reset)."""
    await session.execute(_CLEAR_PIN_ATTEMPTS, {"reference": reference})


_RESET_PIN = (
    update(_profiles)
    .where(
        _profiles.c.reference == bindparam("profile_reference"),
        # An erased profile never signs in again (migration 0018).
        _profiles.c.erased_at.is_(None),
        _profiles.c.created_by_client_id.in_(
            select(_clients.c.client_id).where(
                _clients.c.organisation_id == bindparam("organisation_id")
            )
        ),
    )
    .values(pin_hash=bindparam("new_pin_hash"))
    .returning(_profiles.c.id)
)


async def set_pin_of_organisations_profile(
    session: AsyncSession, *, reference: str, organisation_id: uuid.UUID, pin_hash: str
) -> uuid.UUID | None:
    """Set the PIN hash of the live profile with ``reference`` that a client of the
    organisation created; its id, or None when there is no such profile."""
    profile_id: uuid.UUID | None = (
        await session.execute(
            _RESET_PIN,
            {
                "new_pin_hash": pin_hash,
                "profile_reference": reference,
                "organisation_id": organisation_id,
            },
        )
    ).scalar_one_or_none()
    return profile_id


# =======================================================================================
# Browser sessions (web_sessions.py)
# =======================================================================================

_ws = _web_sessions.c


async def delete_expired_sessions(session: AsyncSession, *, now: datetime) -> None:
    await session.execute(delete(_web_sessions).where(_ws.expires_at < now))


async def insert_web_session(
    session: AsyncSession,
    *,
    id_hash: str,
    profile_id: uuid.UUID | None,
    helper_name: str | None,
    helper_organisation: str | None,
    csrf_secret: str,
    data: dict[str, Any],
    now: datetime,
    expires_at: datetime,
) -> None:
    await session.execute(
        insert(_web_sessions).values(
            id_hash=id_hash,
            profile_id=profile_id,
            helper_name=helper_name,
            helper_organisation=helper_organisation,
            csrf_secret=csrf_secret,
            data=data,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
        )
    )


async def touch_web_session(
    session: AsyncSession, *, id_hash: str, now: datetime, idle: timedelta, max_lifetime: timedelta
) -> AnyRow | None:
    """The live session's row, its expiry pushed to ``now + idle`` but never past
    ``created_at + max_lifetime``, in one UPDATE; None if there is none or it expired."""
    return (
        await session.execute(
            update(_web_sessions)
            .where(_ws.id_hash == id_hash, _ws.expires_at > now)
            .values(
                last_seen_at=now,
                expires_at=func.least(now + idle, _ws.created_at + max_lifetime),
            )
            .returning(*_web_sessions.c)
        )
    ).one_or_none()


async def delete_web_session(session: AsyncSession, *, id_hash: str) -> None:
    await session.execute(delete(_web_sessions).where(_ws.id_hash == id_hash))


async def save_web_session_data(
    session: AsyncSession, *, id_hash: str, data: dict[str, Any]
) -> None:
    await session.execute(update(_web_sessions).where(_ws.id_hash == id_hash).values(data=data))


# =======================================================================================
# The bootstrap admin (bootstrap.py)
# =======================================================================================

# Several workers start at once: one transaction-scoped advisory lock makes the check and
# the insert a single step.
_BOOTSTRAP_LOCK = select(
    func.pg_advisory_xact_lock(func.hashtext(literal("onward:bootstrap-admin")))
)


async def take_bootstrap_lock(session: AsyncSession) -> None:
    """Wait for, then hold until the transaction ends, the bootstrap admin's lock."""
    await session.execute(_BOOTSTRAP_LOCK)


async def client_for_update(session: AsyncSession, client_id: str) -> AnyRow | None:
    """The client's ``active`` and ``scopes``, its row locked until the transaction ends."""
    return (
        await session.execute(
            select(_clients.c.active, _clients.c.scopes)
            .where(_clients.c.client_id == client_id)
            .with_for_update()
        )
    ).one_or_none()


async def organisation_id_of_kind(
    session: AsyncSession, *, kind: str, name: str
) -> uuid.UUID | None:
    found: uuid.UUID | None = (
        await session.execute(
            select(_organisations.c.id)
            .where(_organisations.c.kind == kind, _organisations.c.name == name)
            .limit(1)
        )
    ).scalar_one_or_none()
    return found


async def insert_organisation_id(session: AsyncSession, *, name: str, kind: str) -> uuid.UUID:
    made: uuid.UUID = (
        await session.execute(
            insert(_organisations).values(name=name, kind=kind).returning(_organisations.c.id)
        )
    ).scalar_one()
    return made


async def set_client_secret_and_scopes(
    session: AsyncSession, *, client_id: str, secret_hash: str, scopes: list[str]
) -> None:
    await session.execute(
        update(_clients)
        .where(_clients.c.client_id == client_id)
        .values(secret_hash=secret_hash, scopes=scopes)
    )


# --- token liveness (auth.principal) ---------------------------------------------------

# Token liveness as SQLAlchemy Core, over bound values for the client id and the jti: the
# client and its organisation are active, the jti not revoked. (Two primary-key lookups;
# an operator disabling either the client or its whole organisation cuts the token off
# from the next request on.) The hot path (profiles.repository) and :func:`token_liveness`
# are both built from these expressions, so there is one copy of the rule.


def client_active(client_id: ColumnElement[str]) -> ColumnElement[bool]:
    """Whether the client and its organisation are active (NULL for a missing client)."""
    return (
        select(and_(Client.active, Organisation.active))
        .join(Organisation, Organisation.id == Client.organisation_id)
        .where(Client.client_id == client_id)
        .scalar_subquery()
    )


def token_revoked(jti: ColumnElement[str]) -> ColumnElement[bool]:
    """Whether the token's ``jti`` was revoked."""
    return exists().where(RevokedToken.jti == jti)


def live_condition(client_id: ColumnElement[str], jti: ColumnElement[str]) -> ColumnElement[bool]:
    """The token is live, as a condition, for a statement that must do nothing for a dead
    token (NULL, a missing client, counts as false)."""
    return and_(client_active(client_id), not_(token_revoked(jti)))


# The same check on its own, for every route but the hot path. A leaver token also dies
# with its profile's erasure (profiles.erasure): the answer is 401 invalid_token on every
# route, as for a revoked token.
_LIVENESS = select(
    client_active(bindparam("client_id", type_=String)).label("client_active"),
    token_revoked(bindparam("jti", type_=String)).label("token_revoked"),
    exists()
    .where(Profile.id == bindparam("profile_id"), Profile.erased_at.is_not(None))
    .label("profile_erased"),
)


async def token_liveness(
    session: AsyncSession, client_id: str, jti: str, profile_id: uuid.UUID | None
) -> AnyRow:
    """``client_active``, ``token_revoked`` and ``profile_erased`` for one token."""
    row = (
        await session.execute(
            _LIVENESS, {"client_id": client_id, "jti": jti, "profile_id": profile_id}
        )
    ).one()
    return row
