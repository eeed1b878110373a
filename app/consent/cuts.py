"""Disclosure cuts: what each organisation may see of a profile, decided when consent changes.

Reads outnumber consent changes by far, so the disclosure decision is made on the write
side (DESIGN.md, "the path of a partner read"). :func:`refresh_cuts` is the only writer of
``disclosure_cuts`` and the only caller of :func:`consent.policy.disclose` for partners:
whenever a grant is created or ends, or the profile's data changes, it recomputes the
affected organisations' cuts and stores them ready to serve. The partner read serves the
stored row and records exactly its ``fields``: there is no second copy of the rule.

Invariants (see ``models.profiles.DisclosureCut``):

* a cut is servable only while ``valid_until > now`` (the earliest expiry of the grants
  behind it) and it has grants, so an expiring grant stops it at that very instant;
* database triggers mark a pair's cut stale (``valid_until = -infinity``) on any grant
  insert or update and on any change of the profile's data, in the same transaction: a
  writer that forgot to refresh makes the next read recompute, never over-disclose;
* ``version`` and ``updated_at`` move only when the disclosed leaves, their values or the
  grants behind them change (API.md §3), so an organisation's version says nothing about
  parts of the profile it cannot see; each such move writes one change-feed item
  (``profile_changes``, API.md §9) in the same transaction.

Concurrent refreshes of one profile are serialised by a row lock on the profile. Every
write that changes a profile's cuts takes that lock *first* (:func:`lock_profile`, or the
UPDATE of the profile itself), before it touches a grant or a cut: one lock order, so two
such writes never deadlock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.consent import repository
from app.consent.policy import GrantScope, disclose
from app.consent.repository import Record, lock_profile
from app.models.base import utcnow
from app.webhooks.outbox import enqueue

__all__ = [
    "FOREVER",
    "Cut",
    "compute_cut",
    "feed_change",
    "lock_profile",
    "refresh_cuts",
    "refresh_due",
    "refresh_if_stale",
    "refresh_stale_for_organisation",
]

# "Valid until further notice": a cut with no expiring grant behind it (an empty one).
FOREVER = datetime(9999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Cut:
    data: dict[str, Any]
    fields: list[str]
    grant_ids: list[uuid.UUID]
    valid_until: datetime


def compute_cut(document: dict[str, Any], grants: list[GrantScope], now: datetime) -> Cut:
    """The cut ``grants`` give of ``document`` at ``now``, and until when it holds (pure)."""
    disclosure = disclose(document, grants, now)
    expiries = [g.expires_at for g in grants if g.is_active(now)]
    return Cut(
        disclosure.data,
        disclosure.fields,
        disclosure.grant_ids,
        min(expiries) if expiries else FOREVER,
    )


# asyncpg reads PostgreSQL's -infinity (a cut marked stale by a trigger) as a naive
# datetime.min; every other value comes back aware.
NEVER = datetime.min.replace(tzinfo=UTC)


# A stored cut: a row of ``disclosure_cuts`` (see ``models.profiles.DisclosureCut``).
StoredCut = Record


def _valid_until(stored: StoredCut) -> datetime:
    value = stored.valid_until
    return NEVER if value.tzinfo is None else value


def feed_change(was_shared: bool, is_shared: bool) -> str | None:
    """The change-feed item for a cut that changed (API.md §9): its first active grant
    (``shared``), its last one ending (``unshared``), anything else while shared
    (``updated``); None when it was and stays unshared."""
    if is_shared:
        return "updated" if was_shared else "shared"
    return "unshared" if was_shared else None


def _changed_at(stored: StoredCut, now: datetime) -> datetime:
    """When the organisation's view changed, for ``updated_at``.

    A cut that lapsed on its own changed when its earliest grant expired; a cut never
    computed (born stale from a grant insert or the migration) keeps the time it was
    born with; anything else changed now, in the write that refreshes it.
    """
    valid_until = _valid_until(stored)
    if stored.version == 0:
        born: datetime = stored.updated_at
        return born
    if NEVER < valid_until <= now:
        return valid_until
    return now


def _grant_behind(change: str, old: StoredCut | None, cut: Cut) -> uuid.UUID | None:
    """The one grant that made a ``shared`` or ``unshared`` change, for the webhook
    payload; None when several did, or for ``updated``."""
    grants = cut.grant_ids if change == "shared" else (old.grant_ids if old else [])
    return grants[0] if change != "updated" and len(grants) == 1 else None


async def refresh_cuts(
    session: AsyncSession,
    profile_id: uuid.UUID,
    organisation_ids: Iterable[uuid.UUID] | None = None,
    *,
    now: datetime | None = None,
) -> dict[uuid.UUID, Cut]:
    """Recompute and store the cuts of ``profile_id`` (for the given organisations, or for
    every organisation that has or had a grant), in the caller's transaction."""
    now = now or utcnow()
    orgs = None if organisation_ids is None else list(dict.fromkeys(organisation_ids))
    document = await lock_profile(session, profile_id)
    if document is None:
        return {}
    by_org: dict[uuid.UUID, list[GrantScope]] = {}
    for g in await repository.live_grants(session, profile_id, orgs, now):
        by_org.setdefault(g.organisation_id, []).append(
            GrantScope(g.id, tuple(g.fields), g.expires_at, None, g.explicit)
        )
    stored = {
        row.organisation_id: row for row in await repository.stored_cuts(session, profile_id, orgs)
    }
    cuts: dict[uuid.UUID, Cut] = {}
    for org in dict.fromkeys([*stored, *by_org]):
        cut = compute_cut(document, by_org.get(org, []), now)
        cuts[org] = cut
        old = stored.get(org)
        same = (
            old is not None
            and old.version > 0
            and old.data == cut.data
            and list(old.fields) == cut.fields
            and list(old.grant_ids) == cut.grant_ids
        )
        if same and old is not None and _valid_until(old) == cut.valid_until:
            continue
        values: dict[str, Any] = {"valid_until": cut.valid_until}
        if not same:
            changed_at = _changed_at(old, now) if old is not None else now
            was_shared = old is not None and old.version > 0 and bool(old.grant_ids)
            change = feed_change(was_shared, bool(cut.grant_ids))
            if change is not None:
                await repository.append_change(
                    session,
                    organisation_id=org,
                    profile_id=profile_id,
                    change=change,
                    at=changed_at,
                )
                # Its webhook messages, in the same transaction (the outbox).
                await enqueue(
                    session,
                    org,
                    f"profile.{change}",
                    {"profile_id": profile_id, "grant_id": _grant_behind(change, old, cut)},
                    at=changed_at,
                )
            values.update(
                data=cut.data,
                fields=cut.fields,
                grant_ids=cut.grant_ids,
                version=(old.version if old is not None else 0) + 1,
                updated_at=changed_at,
            )
        await repository.store_cut(
            session,
            profile_id=profile_id,
            organisation_id=org,
            first={
                "data": cut.data,
                "fields": cut.fields,
                "grant_ids": cut.grant_ids,
                "version": 1,
                "updated_at": now,
            },
            values=values,
        )
    return cuts


# Stale cuts (a grant expired, or a trigger marked them): recomputed before serving.


async def refresh_stale_for_organisation(
    session: AsyncSession, organisation_id: uuid.UUID, now: datetime
) -> None:
    """Bring every stale cut an organisation has up to date (before a list read)."""
    for profile_id in await repository.stale_profiles_of(session, organisation_id, now):
        await refresh_cuts(session, profile_id, [organisation_id], now=now)


async def refresh_if_stale(
    session: AsyncSession, profile_id: uuid.UUID, organisation_id: uuid.UUID, now: datetime
) -> bool:
    """Recompute one pair's cut if it is stale; True when something was recomputed."""
    if not await repository.pair_is_stale(session, profile_id, organisation_id, now):
        return False
    await refresh_cuts(session, profile_id, [organisation_id], now=now)
    return True


async def refresh_due(
    sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime | None = None, limit: int = 200
) -> int:
    """Recompute cuts whose grants expired (or that a trigger marked), each in its own
    transaction; the number recomputed.

    Reads never serve such a cut anyway (they recompute it first); this sweep exists so
    that the change feed and webhooks learn of an expiry when it happens, not when someone
    next reads. Safe in every replica at once: each refresh takes the profile's lock and
    re-checks, so a cut another replica just refreshed is left as it is.
    """
    now = now or utcnow()
    async with sessionmaker() as session:
        due = await repository.due_pairs(session, now, limit)
    done = 0
    for profile_id, organisation_id in due:
        async with sessionmaker() as session:
            if await refresh_if_stale(session, profile_id, organisation_id, now):
                done += 1
            await session.commit()
    return done
