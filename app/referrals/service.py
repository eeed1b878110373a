"""Referrals: a leaver asks for an offer, the provider works it, the leaver tracks it.

Who may see a referral is decided in one place, :func:`_visible_to`: a leaver sees the
referrals they made, a provider's client sees the referrals to its organisation. Every
list, read, status move and withdrawal goes through it; anything else is NotFound, exactly
as if it did not exist.

Creating a referral and its ``referral`` grant is one transaction (services only flush;
the request commits), and so is withdrawing it and revoking that grant: a referral never
exists without its grant, and a withdrawn one never leaves its grant active.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.consent.receipts import ReceiptSigner
from app.consent.service import grant_consent, revoke_grant
from app.errors import Conflict, NotFound, ValidationFailed
from app.models import Offer, Organisation, Referral, ReferralEvent
from app.models.base import utcnow
from app.offers.service import london_today
from app.pagination import newest_first, page_of
from app.referrals.status import is_terminal, leaver_may_withdraw, provider_may_move

REFERRAL_PURPOSE = "referral"
NOT_TAKING_REFERRALS = "The offer does not exist or is not taking referrals"

_OFFER_TITLE = Offer.body["title"].astext.label("offer_title")


# --- the choke point: who may see which referral --------------------------------------


def _visible_to(principal: Principal) -> Select[Referral, str, str]:
    """The referrals this principal may see, with the offer's title and the provider's
    name: a leaver's own, or those to a client's organisation. Nothing else, ever."""
    scope = (
        Referral.profile_id == principal.profile_id
        if principal.is_leaver
        else Referral.organisation_id == principal.org_id
    )
    return (
        select(Referral, _OFFER_TITLE, Organisation.name)
        .join(Offer, Offer.id == Referral.offer_id)
        .join(Organisation, Organisation.id == Referral.organisation_id)
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
) -> tuple[Referral, str, str]:
    stmt = _visible_to(principal).where(Referral.id == referral_id)
    if for_update:
        # Lock only the referral row: concurrent moves (provider and leaver) serialise here.
        stmt = stmt.with_for_update(of=Referral)
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        raise NotFound("No such referral")
    return row[0], row[1], row[2]


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
    with_profile: bool,
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": referral.id,
        "offer": {"id": referral.offer_id, "title": offer_title},
        "organisation": {"id": referral.organisation_id, "name": organisation_name},
        "status": referral.status,
        "grant_id": referral.grant_id,
        "message": referral.message,
        "created_at": referral.created_at,
        "updated_at": referral.updated_at,
        "history": history,
    }
    if with_profile:
        view["profile_id"] = referral.profile_id
    return view


async def _views(
    session: AsyncSession, principal: Principal, rows: Sequence[tuple[Referral, str, str]]
) -> list[dict[str, Any]]:
    histories = await _histories(session, [r[0].id for r in rows])
    return [
        _view(ref, title, name, histories[ref.id], with_profile=not principal.is_leaver)
        for ref, title, name in rows
    ]


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
    rows = [(r[0], r[1], r[2]) for r in (await session.execute(stmt)).all()]
    page, next_cursor = page_of(rows, limit, lambda r: (r[0].created_at, r[0].id))
    return await _views(session, principal, page), next_cursor


# --- the leaver asks ------------------------------------------------------------------


async def _referrable_offer(session: AsyncSession, offer_id: uuid.UUID) -> Any:
    """The offer if it takes referrals today: published and within its validity dates.
    Draft, paused, withdrawn, expired and missing offers give the same answer, so the
    error never reveals that an unpublished offer exists."""
    today = london_today()
    row = (
        await session.execute(
            select(
                Offer.id,
                Offer.organisation_id,
                _OFFER_TITLE,
                Offer.body["required_fields"].label("required_fields"),
            ).where(
                Offer.id == offer_id,
                Offer.status == "published",
                or_(Offer.valid_from.is_(None), Offer.valid_from <= today),
                or_(Offer.valid_until.is_(None), Offer.valid_until >= today),
            )
        )
    ).one_or_none()
    if row is None:
        raise ValidationFailed(NOT_TAKING_REFERRALS, loc=["body", "offer_id"])
    return row


async def create_referral(
    session: AsyncSession,
    signer: ReceiptSigner,
    principal: Principal,
    *,
    offer_id: uuid.UUID,
    fields: list[str] | None,
    message: str | None,
    explicit: bool,
) -> dict[str, Any]:
    """A pending referral and its ``referral`` grant to the offer's organisation.

    ``fields`` defaults to the offer's ``required_fields``; the leaver may name any
    catalogue paths instead (a narrower set, or different ones): the grant shares exactly
    what was chosen, never more. The grant follows the same rules as any other (explicit
    consent for sensitive data, 365 days' term) because it is made by the same function.
    """
    offer = await _referrable_offer(session, offer_id)
    chosen = list(offer.required_fields or []) if fields is None else fields
    if not chosen:
        raise ValidationFailed(
            "Choose at least one field to share with the provider", loc=["body", "fields"]
        )
    grant = await grant_consent(
        session,
        signer,
        profile_id=principal.profile_id,
        organisation_id=offer.organisation_id,
        fields=chosen,
        purpose=REFERRAL_PURPOSE,
        explicit=explicit,
        loc=("body",),
    )
    now = utcnow()
    referral = Referral(
        profile_id=principal.profile_id,
        offer_id=offer.id,
        organisation_id=offer.organisation_id,
        grant_id=grant["id"],
        status="pending",
        message=message,
        created_at=now,
        updated_at=now,
    )
    session.add(referral)
    await session.flush()
    event = ReferralEvent(
        referral_id=referral.id, status="pending", actor_client_id=principal.client_id, at=now
    )
    session.add(event)
    await session.flush()
    history = [{"status": "pending", "at": now, "note": None}]
    return _view(
        referral, offer.offer_title, grant["organisation"]["name"], history, with_profile=False
    )


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
    referral, title, name = await _one(session, principal, referral_id, for_update=True)
    if not provider_may_move(referral.status, status):
        raise Conflict(f"The referral is {referral.status}; it cannot move to {status}")
    if is_terminal(status):
        await revoke_grant(session, profile_id=referral.profile_id, grant_id=referral.grant_id)
    await _record(session, referral, status, note=note, actor_client_id=principal.client_id)
    return (await _views(session, principal, [(referral, title, name)]))[0]


async def withdraw_referral(
    session: AsyncSession, principal: Principal, referral_id: uuid.UUID
) -> dict[str, Any]:
    """The leaver withdraws an open referral and its grant is revoked, in one transaction.

    Withdrawing again changes nothing and answers the same referral; a referral the
    provider has already finished (declined, completed, closed) cannot be withdrawn (409).
    """
    referral, title, name = await _one(session, principal, referral_id, for_update=True)
    if referral.status != "withdrawn":
        if not leaver_may_withdraw(referral.status):
            raise Conflict(f"The referral is {referral.status}; it can no longer be withdrawn")
        await revoke_grant(session, profile_id=principal.profile_id, grant_id=referral.grant_id)
        await _record(
            session, referral, "withdrawn", note=None, actor_client_id=principal.client_id
        )
    return (await _views(session, principal, [(referral, title, name)]))[0]
