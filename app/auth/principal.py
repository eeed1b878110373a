"""Who is calling: the Principal built from a verified token and the database's word on it.

The token's signature and times are checked in memory (``tokens.py``); whether its client
is still active and its ``jti`` not revoked is read from the database on *every* request,
in one statement, so a revocation or a disabled client holds from the next request on
every replica.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import repository
from app.auth.scopes import SELF
from app.auth.tokens import InvalidToken

LEAVER_CLIENT_ID = "onward-leaver"


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    client_id: str
    scopes: frozenset[str]
    jti: str
    expires_at: int
    organisation_id: uuid.UUID | None = None
    # Set on tokens from the authorization code flow: the one grant the token may read
    # under (API.md §3). Such a token discloses that grant's leaves only, never the
    # union of its organisation's grants.
    grant_id: uuid.UUID | None = None

    @property
    def is_leaver(self) -> bool:
        return SELF in self.scopes and self.organisation_id is None

    @property
    def profile_id(self) -> uuid.UUID:
        """The leaver's own profile id (only for leaver tokens)."""
        if not self.is_leaver:
            raise InvalidToken("not a leaver token")
        return uuid.UUID(self.subject)

    @property
    def org_id(self) -> uuid.UUID:
        """The calling client's organisation (only for client tokens)."""
        if self.organisation_id is None:
            raise InvalidToken("not a client token")
        return self.organisation_id


@dataclass(frozen=True, slots=True)
class Unconfirmed:
    """A principal whose token verified in memory but whose liveness (client active,
    ``jti`` not revoked) has not been read from the database yet. Whoever receives one
    must check liveness before serving it: :func:`confirm_live`, or :func:`live_condition`
    inside the statement that serves it (``auth.repository``)."""

    principal: Principal


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    scopes = frozenset(str(claims["scope"]).split())
    org = claims.get("org")
    grant = claims.get("grant_id")
    try:
        organisation_id = uuid.UUID(str(org)) if org is not None else None
        grant_id = uuid.UUID(str(grant)) if grant is not None else None
        if grant_id is not None and organisation_id is None:
            # A grant binds a partner's token; a leaver's token never carries one.
            raise InvalidToken("token rejected")
        if SELF in scopes:
            # A leaver token never carries an organisation, and its subject is a profile id.
            if organisation_id is not None:
                raise InvalidToken("token rejected")
            uuid.UUID(str(claims["sub"]))
    except ValueError as exc:
        raise InvalidToken("token rejected") from exc
    return Principal(
        subject=str(claims["sub"]),
        client_id=str(claims.get("client_id", "")),
        scopes=scopes,
        jti=str(claims["jti"]),
        expires_at=int(claims["exp"]),
        organisation_id=organisation_id,
        grant_id=grant_id,
    )


async def confirm_live(session: AsyncSession, principal: Principal) -> None:
    """Refuse a revoked token, a leaver token whose profile is erased, or any token of a
    disabled or deleted client, or of a client whose organisation is disabled."""
    profile_id = principal.profile_id if principal.is_leaver else None
    row = await repository.token_liveness(session, principal.client_id, principal.jti, profile_id)
    if row.token_revoked or row.profile_erased:
        raise InvalidToken("token revoked")
    if not principal.is_leaver and row.client_active is not True:
        raise InvalidToken("client disabled")
