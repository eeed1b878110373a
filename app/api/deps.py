"""Authentication and authorisation as typed dependencies (RFC 6750 answers).

* no token → 401 ``WWW-Authenticate: Bearer``
* a bad, expired, revoked token, or one in the query string → 401 ``error="invalid_token"``
* a valid token without the scope → 403 ``error="insufficient_scope", scope="…"``

Use the ``Annotated`` aliases at the bottom in handlers::

    async def read(principal: PartnerReader, session: Session) -> ...
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2, SecurityScopes

from app.auth import scopes as S
from app.auth.principal import Principal, Unconfirmed, confirm_live, principal_from_claims
from app.auth.tokens import InvalidToken, TokenService
from app.db import Session
from app.errors import Forbidden, Unauthorized

# Declared for the OpenAPI description (so /docs can authorise); they never fail by themselves.
oauth2_scheme = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(
            tokenUrl="/oauth/token", scopes=dict(S.SCOPE_DESCRIPTIONS)
        )
    ),
    scheme_name="OAuth2",
    description="Client credentials for organisations' systems. A leaver's token comes from "
    "the `urn:onward:grant-type:leaver-pin` grant: paste it under BearerToken.",
    auto_error=False,
)
bearer_scheme = HTTPBearer(
    scheme_name="BearerToken",
    bearerFormat="JWT",
    description="Any access token from POST /oauth/token, including a leaver's.",
    auto_error=False,
)


def token_service(request: Request) -> TokenService:
    service: TokenService = request.app.state.tokens
    return service


def _invalid(description: str = "The access token is invalid") -> Unauthorized:
    return Unauthorized(
        description,
        headers={
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'
        },
    )


async def verify_bearer(
    request: Request,
    _oauth: Annotated[str | None, Depends(oauth2_scheme)],
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The token's signature, times and audience, checked in memory. NOT whether it was
    revoked or its client disabled: :func:`authenticate` (or a hot path that folds the
    check into its own statement, see :class:`Unconfirmed`) must do that."""
    if b"access_token" in request.scope["query_string"] and "access_token" in request.query_params:
        # RFC 6750 §2.3 is not supported: URLs end up in logs and browser history.
        raise _invalid("Tokens are accepted in the Authorization header only")
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("An access token is required", headers={"WWW-Authenticate": "Bearer"})
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _invalid("Use the Bearer scheme")
    try:
        return principal_from_claims(token_service(request).verify(token))
    except InvalidToken as exc:
        raise _invalid() from exc


async def authenticate(
    session: Session, principal: Annotated[Principal, Depends(verify_bearer)]
) -> Principal:
    try:
        await confirm_live(session, principal)
    except InvalidToken as exc:
        raise _invalid() from exc
    return principal


async def optional_principal(request: Request, session: Session) -> Principal | None:
    """The caller when a token is sent (it must then be valid: 401 otherwise), else None.
    For public resources that show more to their owner (draft offers)."""
    if "authorization" not in request.headers and "access_token" not in request.query_params:
        return None
    return await authenticate(session, await verify_bearer(request, None, None))


def _check_scopes(security_scopes: SecurityScopes, principal: Principal) -> None:
    missing = [s for s in security_scopes.scopes if s not in principal.scopes]
    if missing:
        needed = " ".join(security_scopes.scopes)
        raise Forbidden(
            f"This needs the scope: {needed}",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{needed}"'},
        )


async def require(
    security_scopes: SecurityScopes,
    principal: Annotated[Principal, Depends(authenticate)],
) -> Principal:
    _check_scopes(security_scopes, principal)
    return principal


async def require_unconfirmed(
    security_scopes: SecurityScopes,
    principal: Annotated[Principal, Depends(verify_bearer)],
) -> Unconfirmed:
    _check_scopes(security_scopes, principal)
    return Unconfirmed(principal)


def invalid_token() -> Unauthorized:
    """The 401 for a token the database refused (revoked, or its client disabled)."""
    return _invalid()


Admin = Annotated[Principal, Security(require, scopes=[S.ADMIN])]
OfferWriter = Annotated[Principal, Security(require, scopes=[S.OFFERS_WRITE])]
Kiosk = Annotated[Principal, Security(require, scopes=[S.PROFILES_CREATE])]
PartnerReader = Annotated[Principal, Security(require, scopes=[S.PROFILES_READ])]
ReferralReader = Annotated[Principal, Security(require, scopes=[S.REFERRALS_READ])]
ReferralWriter = Annotated[Principal, Security(require, scopes=[S.REFERRALS_WRITE])]
Leaver = Annotated[Principal, Security(require, scopes=[S.SELF])]
# The partner read's hot path checks revocation and client state inside its own single
# statement (profiles/service.read_for_partner); the type makes forgetting that impossible
# to miss: an Unconfirmed is not a Principal.
PartnerReaderUnconfirmed = Annotated[
    Unconfirmed, Security(require_unconfirmed, scopes=[S.PROFILES_READ])
]
