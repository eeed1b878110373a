"""Referrals: a leaver asks for an offer, the provider works it, the leaver tracks it.

Who may see a referral is decided in one place, ``referrals.repository._visible_to``: a
leaver sees the referrals they made, a provider's client sees the referrals to its
organisation. Every list, read, status move and withdrawal goes through it; anything else
is NotFound, exactly as if it did not exist.

Creating a referral and its ``referral`` grant is one transaction (services only flush;
the request commits), and so is withdrawing it and revoking that grant: a referral never
exists without its grant, and a withdrawn one never leaves its grant active.

What a provider is shown of a referral is recorded: every referral a provider's client
receives (a list, a read, the answer to a move) appends a ``referral.read`` access event in
the same transaction, and the leaver's message is withheld once the referral's grant has
ended (revoked or expired): the message was shared under that grant.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.log import REFERRAL_MESSAGE, REFERRAL_READ, AccessRecord, record_reads
from app.auth.principal import Principal
from app.clock import london_today
from app.consent.receipts import ReceiptSigner
from app.consent.service import grant_consent, revoke_grant
from app.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from app.models.base import utcnow
from app.pagination import page_of
from app.referrals import repository
from app.referrals.repository import VisibleReferral
from app.referrals.status import is_terminal, leaver_may_withdraw, provider_may_move
from app.webhooks.outbox import enqueue

REFERRAL_PURPOSE = "referral"
NOT_TAKING_REFERRALS = "The offer does not exist or is not taking referrals"

REFERRAL_COLLECTION_METHOD = "referral"


def parse_referral_id(raw: str) -> uuid.UUID:
    """A path id; a malformed one is the same 404 as a missing referral."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound("No such referral") from None


async def _one(
    session: AsyncSession, principal: Principal, referral_id: uuid.UUID, *, for_update: bool
) -> VisibleReferral:
    referral = await repository.load_visible(session, principal, referral_id, for_update=for_update)
    if referral is None:
        raise NotFound("No such referral")
    return referral


# --- reading into the API shape -------------------------------------------------------


async def _histories(
    session: AsyncSession, referral_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Every status each referral entered, oldest first: one query for a whole page."""
    out: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    if not referral_ids:
        return out
    events = await repository.histories(session, referral_ids)
    for event in events:
        out[event.referral_id].append({"status": event.status, "at": event.at, "note": event.note})
    return out


def _view(
    referral: VisibleReferral, history: list[dict[str, Any]], *, for_provider: bool
) -> dict[str, Any]:
    """The API's view. The leaver always sees their own message; the provider only while
    the referral's grant is live, and the leaver's ``profile_id`` only as the provider."""
    view: dict[str, Any] = {
        "id": referral.id,
        "offer": {"id": referral.offer_id, "title": referral.offer_title},
        "organisation": {"id": referral.organisation_id, "name": referral.organisation_name},
        "status": referral.status,
        "grant_id": referral.grant_id,
        "message": referral.message if referral.grant_live or not for_provider else None,
        "created_at": referral.created_at,
        "updated_at": referral.updated_at,
        "history": history,
    }
    if for_provider:
        view["profile_id"] = referral.profile_id
    return view


async def _views(
    session: AsyncSession, principal: Principal, rows: Sequence[VisibleReferral]
) -> list[dict[str, Any]]:
    """The views of a page of referrals; for a provider, each one shown is recorded in the
    leaver's access log (one statement for the page) before anything is returned."""
    histories = await _histories(session, [r.id for r in rows])
    for_provider = not principal.is_leaver
    views = [_view(r, histories[r.id], for_provider=for_provider) for r in rows]
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
    referral = await _one(session, principal, referral_id, for_update=False)
    return (await _views(session, principal, [referral]))[0]


async def list_referrals(
    session: AsyncSession,
    principal: Principal,
    *,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """The principal's referrals, newest first (created_at, then id), optionally by status."""
    # An empty cursor is the first page here (as on the catalogue), not a 422.
    rows = await repository.page_visible(
        session, principal, status=status, limit=limit, cursor=cursor or None
    )
    page, next_cursor = page_of(rows, limit, lambda r: (r.created_at, r.id))
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
    row = await repository.referrable_offer(
        session, profile_id=principal.profile_id, offer_id=offer_id, today=london_today()
    )
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
    inserted = await repository.insert_open_referral(
        session,
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
    if not inserted:
        raise _already_open()
    await repository.append_event(
        session,
        referral_id=referral_id,
        status="pending",
        note=None,
        actor_client_id=principal.client_id,
        at=now,
    )
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
    referral: VisibleReferral,
    status: str,
    *,
    note: str | None,
    actor_client_id: str,
) -> VisibleReferral:
    """Move the referral to ``status`` and add the move to its history; the moved referral."""
    now = utcnow()
    await repository.set_status(session, referral.id, status=status, at=now)
    await repository.append_event(
        session,
        referral_id=referral.id,
        status=status,
        note=note,
        actor_client_id=actor_client_id,
        at=now,
    )
    return dataclasses.replace(referral, status=status, updated_at=now)


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
    referral = await _one(session, principal, referral_id, for_update=True)
    if not provider_may_move(referral.status, status):
        raise Conflict(f"The referral is {referral.status}; it cannot move to {status}")
    if is_terminal(status):
        await revoke_grant(
            session, signer, profile_id=referral.profile_id, grant_id=referral.grant_id
        )
        referral = dataclasses.replace(referral, grant_live=False)
    referral = await _record(
        session, referral, status, note=note, actor_client_id=principal.client_id
    )
    # The answer shows the provider the referral, so it is recorded like a read.
    return (await _views(session, principal, [referral]))[0]


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
    referral = await _one(session, principal, referral_id, for_update=True)
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
        referral = await _record(
            session,
            dataclasses.replace(referral, grant_live=False),
            "withdrawn",
            note=None,
            actor_client_id=principal.client_id,
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
            at=referral.updated_at,
        )
    return (await _views(session, principal, [referral]))[0]
