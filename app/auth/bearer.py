"""Reading a bearer token off a request (RFC 6750), without any web framework.

Used by the FastAPI dependencies (``api/deps.py``), so every route answers every auth
failure identically:

* no token → 401 ``WWW-Authenticate: Bearer``
* a bad or expired token, or one in the query string → 401 ``error="invalid_token"``;
  an expired one (ours, and valid in every other respect) says so in
  ``error_description="The access token expired"``, any other says only that it is invalid
* a valid token without the scope → 403 ``error="insufficient_scope", scope="…"``
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qs

from app.auth.principal import Principal, principal_from_claims
from app.auth.tokens import ExpiredToken, InvalidToken, TokenService
from app.errors import Forbidden, Unauthorized

EXPIRED = "The access token expired"


def invalid_token(description: str = "The access token is invalid") -> Unauthorized:
    return Unauthorized(
        description,
        headers={
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'
        },
    )


def bearer_principal(
    authorization: str | None, query_string: bytes, tokens: TokenService
) -> Principal:
    """The principal of a token whose signature, times and audience check out in memory.

    NOT whether it was revoked or its client disabled: the caller must read that from
    the database (``principal.confirm_live``, or in its own statement for a hot path).
    """
    if b"access_token" in query_string and "access_token" in parse_qs(query_string.decode()):
        # RFC 6750 §2.3 is not supported: URLs end up in logs and browser history.
        raise invalid_token("Tokens are accepted in the Authorization header only")
    if not authorization:
        raise Unauthorized("An access token is required", headers={"WWW-Authenticate": "Bearer"})
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise invalid_token("Use the Bearer scheme")
    try:
        return principal_from_claims(tokens.verify(token))
    except ExpiredToken as exc:
        raise invalid_token(EXPIRED) from exc
    except InvalidToken as exc:
        raise invalid_token() from exc


def check_scopes(needed: Sequence[str], principal: Principal) -> None:
    if any(s not in principal.scopes for s in needed):
        wanted = " ".join(needed)
        raise Forbidden(
            f"This needs the scope: {wanted}",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{wanted}"'},
        )
