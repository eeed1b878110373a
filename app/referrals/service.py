"""Referrals: a leaver asks for an offer, the provider works it, the leaver tracks it.

Who may see a referral is decided in one place, :func:`_visible_to`: a leaver sees the
referrals they made, a provider's client sees the referrals to its organisation. Every
list, read, status move and withdrawal goes through it; anything else is NotFound, exactly
as if it did not exist.

Creating a referral and its ``referral`` grant is one transaction (services only flush;
the request commits), and so is withdrawing it and revoking that grant: a referral never
exists without its grant, and a withdrawn one never leaves its grant active.

What a provider is shown of a referral is recorded: every referral a provider's client
receives (a list, a read, the answer to a move) appends a ``referral.read`` access event in
the same transaction, and the leaver's message is withheld once the referral's grant has
ended (revoked or expired): the message was shared under that grant.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.log import REFERRAL_MESSAGE, REFERRAL_READ, AccessRecord, record_reads
from app.auth.principal import Principal
from app.clock import london_today
from app.consent.receipts import ReceiptSigner
from app.consent.service import grant_consent, revoke_grant
from app.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from app.models import ConsentGrant, Offer, Organisation, Referral, ReferralEvent
from app.models.base import check_in, utcnow
from app.pagination import newest_first, page_of
from app.referrals.status import OPEN, is_terminal, leaver_may_withdraw, provider_may_move
from app.webhooks.outbox import enqueue

REFERRAL_PURPOSE = "referral"
NOT_TAKING_REFERRALS = "The offer does not exist or is not taking referrals"

REFERRAL_COLLECTION_METHOD = "referral"

_OFFER_TITLE = Offer.body["title"].astext.label("offer_title")
# Whether the referral's grant still holds: not revoked (by the leaver, a withdrawal or
# the referral ending) and not expired. The message was shared under it.
_GRANT_LIVE: ColumnElement[bool] = and_(
    ConsentGrant.revoked_at.is_(None), ConsentGrant.expires_at > func.now()
).label("grant_live")
# The partial unique index's predicate, spelled as a constant: ON CONFLICT infers a partial
# index only from a WHERE it can prove implies the index's, which bound parameters are not.
_OPEN_PREDICATE = text(check_in("status", sorted(OPEN)))

# A referral as a page holds it: the row, the offer's title, the provider's name and
# whether its grant is live.
Row = tuple[Referral, str, str, bool]


# --- the choke point: who may see which referral --------------------------------------


def _visible_to(principal: Principal) -> Select[Referral, str, str, bool]:
    """The referrals this principal may see, with the offer's title, the provider's name
    and whether the referral's grant is live: a leaver's own, or those to a client's
    organisation. Nothing else, ever."""
    scope = (
        Referral.profile_id == principal.profile_id
        if principal.is_leaver
        else Referral.organisation_id == principal.org_id
    )
    return (
        select(Referral, _OFFER_TITLE, Organisation.name, _GRANT_LIVE)
        .join(Offer, Offer.id == Referral.offer_id)
        .join(Organisation, Organisation.id == Referral.organisation_id)
        .join(ConsentGrant, ConsentGrant.id == Referral.grant_id)
        .where(scope)
    )


def parse_referral_id(raw: str) -> uuid.UUID:
    """A path id; a malformed one is the same 404 as a missing referral."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound("No such referral") from None


async def _one(
    session: AsyncSession, principal: Principal, referral_id: uuid.UUID, *, for_update: bool
) -> Row:
    stmt = _visible_to(principal).where(Referral.id == referral_id)
    if for_update:
        # Lock only the referral row: concurrent moves (provider and leaver) serialise here.
        stmt = stmt.with_for_update(of=Referral)
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        raise NotFound("No such referral")
    return row[0], row[1], row[2], bool(row[3])


# --- reading into the API shape -------------------------------------------------------


async def _histories(
    session: AsyncSession, referral_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Every status each referral entered, oldest first: one query for a whole page."""
    out: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    if not referral_ids:
        return out
    events = await session.execute(
        select(
            ReferralEvent.referral_id, ReferralEvent.status, ReferralEvent.at, ReferralEvent.note
        )
        .where(ReferralEvent.referral_id.in_(referral_ids))
        .order_by(ReferralEvent.referral_id, ReferralEvent.seq)
    )
    for event in events:
        out[event.referral_id].append({"status": event.status, "at": event.at, "note": event.note})
    return out


def _view(
    referral: Referral,
    offer_title: str,
    organisation_name: str,
    history: list[dict[str, Any]],
    *,
    for_provider: bool,
    grant_live: bool,
) -> dict[str, Any]:
    """The API's view. The leaver always sees their own message; the provider only while
    the referral's grant is live, and the leaver's ``profile_id`` only as the provider."""
    view: dict[str, Any] = {
        "id": referral.id,
        "offer": {"id": referral.offer_id, "title": offer_title},
        "organisation": {"id": referral.organisation_id, "name": organisation_name},
        "status": referral.status,
        "grant_id": referral.grant_id,
        "message": referral.message if grant_live or not for_provider else None,
        "created_at": referral.created_at,
        "updated_at": referral.updated_at,
        "history": history,
    }
    if for_provider:
        view["profile_id"] = referral.profile_id
    return view


async def _views(
    session: AsyncSession, principal: Principal, rows: Sequence[Row]
) -> list[dict[str, Any]]:
    """The views of a page of referrals; for a provider, each one shown is recorded in the
    leaver's access log (one statement for the page) before anything is returned."""
    histories = await _histories(session, [r[0].id for r in rows])
    for_provider = not principal.is_leaver
    views = [
        _view(ref, title, name, histories[ref.id], for_provider=for_provider, grant_live=live)
        for ref, title, name, live in rows
    ]
    if for_provider:
        await record_reads(
            session,
            organisation_id=principal.org_id,
            client_id=principal.client_id,
            action=REFERRAL_READ,
            records=[
                AccessRecord(
                    profile_id=view["profile_id"],
                    fields=[REFERRAL_MESSAGE] if view["message"] is not None else [],
                    grant_ids=[view["grant_id"]],
                )
                for view in views
            ],
        )
    return views


async def get_referral(
    session: AsyncSession, principal: Principal, referral_id: uuid.UUID
) -> dict[str, Any]:
    row = await _one(session, principal, referral_id, for_update=False)
    return (await _views(session, principal, [row]))[0]


async def list_referrals(
    session: AsyncSession,
    principal: Principal,
    *,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """The principal's referrals, newest first (created_at, then id), optionally by status."""
    stmt = _visible_to(principal)
    if status is not None:
        stmt = stmt.where(Referral.status == status)
    # An empty cursor is the first page here (as on the catalogue), not a 422.
    stmt = newest_first(
        stmt, (Referral.created_at, Referral.id), limit=limit, cursor=cursor or None
    )
    rows = [(r[0], r[1], r[2], bool(r[3])) for r in (await session.execute(stmt)).all()]
    page, next_cursor = page_of(rows, limit, lambda r: (r[0].created_at, r[0].id))
    return await _views(session, principal, page), next_cursor


# --- the leaver asks ------------------------------------------------------------------


async def _referrable_offer(
    session: AsyncSession, principal: Principal, offer_id: uuid.UUID
) -> Any:
    """The offer if it takes referrals today (published and within its validity dates),
    its current version, and whether this leaver already has an open referral to it.

    Draft, paused, withdrawn, expired and missing offers give the same answer, so the
    error never reveals that an unpublished offer exists. The row is share-locked until
    the request commits: an offer replaced meanwhile waits, so the version checked here is
    the version the referral is made against.
    """
    today = london_today()
    already_open = exists().where(
        Referral.profile_id == principal.profile_id,
        Referral.offer_id == Offer.id,
        Referral.status.in_(sorted(OPEN)),
    )
    row = (
        await session.execute(
            select(
                Offer.id,
                Offer.organisation_id,
                Offer.version,
                _OFFER_TITLE,
                already_open.label("already_open"),
            )
            .where(
                Offer.id == offer_id,
                Offer.status == "published",
                or_(Offer.valid_from.is_(None), Offer.valid_from <= today),
                or_(Offer.valid_until.is_(None), Offer.valid_until >= today),
            )
            .with_for_update(read=True, of=Offer)
        )
    ).one_or_none()
    if row is None:
        raise ValidationFailed(NOT_TAKING_REFERRALS, loc=["body", "offer_id"])
    return row


def _already_open() -> Conflict:
    return Conflict(
        "You already have an open referral to this offer (pending, accepted or in "
        "progress); withdraw it before asking again"
    )


async def create_referral(
    session: AsyncSession,
    signer: ReceiptSigner,
    principal: Principal,
    *,
    offer_id: uuid.UUID,
    offer_version: int,
    fields: list[str],
    message: str | None,
    explicit: bool,
    assisted_by: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A pending referral and its ``referral`` grant to the offer's organisation.

    Consent is bound to what the leaver was shown: the grant covers exactly ``fields``
    (never anything taken from the offer), and ``offer_version`` must still be the offer's
    version, else PreconditionFailed and nothing is created. An offer's provider may
    change what it asks for at any time; a leaver who agreed to share a name must never
    find they shared their story because the offer changed under them. The grant follows
    the rules of any other (catalogue paths, explicit consent for sensitive data, 365
    days' term) because it is made by the same function.

    At most one open referral per leaver per offer (Conflict otherwise): checked up front
    for a clear answer, and held by a partial unique index for requests that race.
    """
    offer = await _referrable_offer(session, principal, offer_id)
    if offer.version != offer_version:
        raise PreconditionFailed(
            f"The offer has changed since version {offer_version} was shown (it is now "
            f"version {offer.version}): show the current offer and ask again"
        )
    if offer.already_open:
        raise _already_open()
    if not fields:
        raise ValidationFailed(
            "Choose at least one field to share with the provider", loc=["body", "fields"]
        )
    grant = await grant_consent(
        session,
        signer,
        profile_id=principal.profile_id,
        organisation_id=offer.organisation_id,
        fields=fields,
        purpose=REFERRAL_PURPOSE,
        explicit=explicit,
        loc=("body",),
        collection_method=REFERRAL_COLLECTION_METHOD,
        assisted_by=assisted_by,
    )
    now = utcnow()
    referral_id = uuid.uuid4()
    # A concurrent request for the same leaver and offer that committed first wins: this
    # INSERT waits for it, then inserts nothing, and the request (with its grant) is
    # rolled back by the Conflict.
    inserted = (
        await session.execute(
            insert(Referral)
            .values(
                id=referral_id,
                profile_id=principal.profile_id,
                offer_id=offer.id,
                organisation_id=offer.organisation_id,
                grant_id=grant["id"],
                status="pending",
                message=message,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(
                index_elements=[Referral.profile_id, Referral.offer_id],
                index_where=_OPEN_PREDICATE,
            )
            .returning(Referral.id)
        )
    ).scalar_one_or_none()
    if inserted is None:
        raise _already_open()
    session.add(
        ReferralEvent(
            referral_id=referral_id,
            status="pending",
            actor_client_id=principal.client_id,
            at=now,
        )
    )
    await session.flush()
    await enqueue(
        session,
        offer.organisation_id,
        "referral.created",
        {"profile_id": principal.profile_id, "referral_id": referral_id, "grant_id": grant["id"]},
        at=now,
    )
    return {
        "id": referral_id,
        "offer": {"id": offer.id, "title": offer.offer_title},
        "organisation": {"id": offer.organisation_id, "name": grant["organisation"]["name"]},
        "status": "pending",
        "grant_id": grant["id"],
        "message": message,
        "created_at": now,
        "updated_at": now,
        "history": [{"status": "pending", "at": now, "note": None}],
    }


# --- moves ----------------------------------------------------------------------------


async def _record(
    session: AsyncSession,
    referral: Referral,
    status: str,
    *,
    note: str | None,
    actor_client_id: str,
) -> datetime:
    now = utcnow()
    referral.status = status
    referral.updated_at = now
    session.add(
        ReferralEvent(
            referral_id=referral.id,
            status=status,
            note=note,
            actor_client_id=actor_client_id,
            at=now,
        )
    )
    await session.flush()
    return now


async def move_referral(
    session: AsyncSession,
    signer: ReceiptSigner,
    principal: Principal,
    referral_id: uuid.UUID,
    *,
    status: str,
    note: str | None,
) -> dict[str, Any]:
    """The provider moves its referral one step along the status machine (409 otherwise).

    A move that ends the referral (declined, completed, closed) also revokes the grant it
    was made with, in the same transaction: the leaver shared those fields for this
    referral, and its purpose is over. Other grants the leaver gave the provider stay.
    """
    referral, title, name, live = await _one(session, principal, referral_id, for_update=True)
    if not provider_may_move(referral.status, status):
        raise Conflict(f"The referral is {referral.status}; it cannot move to {status}")
    if is_terminal(status):
        await revoke_grant(
            session, signer, profile_id=referral.profile_id, grant_id=referral.grant_id
        )
        live = False
    await _record(session, referral, status, note=note, actor_client_id=principal.client_id)
    # The answer shows the provider the referral, so it is recorded like a read.
    return (await _views(session, principal, [(referral, title, name, live)]))[0]


async def withdraw_referral(
    session: AsyncSession,
    signer: ReceiptSigner,
    principal: Principal,
    referral_id: uuid.UUID,
    *,
    collection_method: str = "api",
    assisted_by: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The leaver withdraws an open referral and its grant is revoked, in one transaction.

    Withdrawing again changes nothing and answers the same referral; a referral the
    provider has already finished (declined, completed, closed) cannot be withdrawn (409).
    """
    referral, title, name, live = await _one(session, principal, referral_id, for_update=True)
    if referral.status != "withdrawn":
        if not leaver_may_withdraw(referral.status):
            raise Conflict(f"The referral is {referral.status}; it can no longer be withdrawn")
        await revoke_grant(
            session,
            signer,
            profile_id=principal.profile_id,
            grant_id=referral.grant_id,
            collection_method=collection_method,
            assisted_by=assisted_by,
        )
        withdrawn_at = await _record(
            session, referral, "withdrawn", note=None, actor_client_id=principal.client_id
        )
        await enqueue(
            session,
            referral.organisation_id,
            "referral.withdrawn",
            {
                "profile_id": referral.profile_id,
                "referral_id": referral.id,
                "grant_id": referral.grant_id,
            },
            at=withdrawn_at,
        )
        live = False
    return (await _views(session, principal, [(referral, title, name, live)]))[0]
