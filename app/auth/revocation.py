"""Token revocation (RFC 7009) and introspection (RFC 7662).

Who may do what, decided here and documented on the endpoints:

* **Revoke.** A confidential client may revoke the tokens issued to it. The leaver is a
  public client (``client_id=onward-leaver``, no secret) and may revoke a leaver token:
  that is "sign out", and whoever holds the token could use it anyway. Anything else
  (garbage, expired, another client's token) answers 200 and changes nothing, as
  RFC 7009 §2.2 asks, so the endpoint confirms nothing about tokens it was shown.
* **Introspect.** A confidential client sees its own tokens; a client with the ``admin``
  scope sees any of ours. Everything else, and every revoked or expired token or token
  of a disabled client, is ``{"active": false}`` (RFC 7662 §2.2, and §4 on scanning).

A revoked ``jti`` is kept until the token would have expired anyway; older rows are
deleted on the next revocation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import repository
from app.auth import scopes as S
from app.auth.clients import AuthenticatedClient
from app.auth.principal import LEAVER_CLIENT_ID, confirm_live, principal_from_claims
from app.auth.tokens import LEEWAY_SECONDS, InvalidToken, TokenService

# Past its expiry (plus the verifier's leeway) a token is refused anyway: forget it.
_FORGET_MARGIN = timedelta(seconds=60 + LEEWAY_SECONDS)


def _claims(tokens: TokenService, token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        return tokens.verify(token)
    except InvalidToken:
        return None


async def revoke_token(
    session: AsyncSession,
    tokens: TokenService,
    caller: AuthenticatedClient | None,
    token: str | None,
) -> bool:
    """Revoke ``token`` if ``caller`` may (``None`` is the leaver's public client).

    Returns whether a revocation was recorded; the HTTP answer is 200 either way.
    """
    claims = _claims(tokens, token)
    if claims is None:
        return False
    owner = str(claims.get("client_id", ""))
    allowed = owner == LEAVER_CLIENT_ID if caller is None else owner == caller.client_id
    if not allowed:
        return False
    await repository.forget_revoked(session, margin=_FORGET_MARGIN)
    expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
    await repository.revoke_jti(session, jti=claims["jti"], expires_at=expires_at)
    return True


async def introspect_token(
    session: AsyncSession, tokens: TokenService, caller: AuthenticatedClient, token: str | None
) -> dict[str, Any]:
    inactive: dict[str, Any] = {"active": False}
    claims = _claims(tokens, token)
    if claims is None:
        return inactive
    owner = str(claims.get("client_id", ""))
    if owner != caller.client_id and S.ADMIN not in caller.scopes:
        return inactive
    try:
        await confirm_live(session, principal_from_claims(claims))
    except InvalidToken:
        return inactive
    answer: dict[str, Any] = {"active": True, "token_type": "Bearer"}
    for name in ("scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti", "org"):
        if name in claims:
            answer[name] = claims[name]
    return answer
