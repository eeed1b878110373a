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

from app.api.session import Session
from app.auth import scopes as S
from app.auth.bearer import bearer_principal, check_scopes, invalid_token
from app.auth.principal import Principal, Unconfirmed, confirm_live
from app.auth.tokens import InvalidToken, TokenService

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


async def verify_bearer(
    request: Request,
    _oauth: Annotated[str | None, Depends(oauth2_scheme)],
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The token checked in memory; NOT its liveness: :func:`authenticate` (or a hot path
    that folds the check into its own statement, see :class:`Unconfirmed`) must do that."""
    return bearer_principal(
        request.headers.get("authorization"), request.scope["query_string"], token_service(request)
    )


async def authenticate(
    session: Session, principal: Annotated[Principal, Depends(verify_bearer)]
) -> Principal:
    try:
        await confirm_live(session, principal)
    except InvalidToken as exc:
        raise invalid_token() from exc
    return principal


async def optional_principal(request: Request, session: Session) -> Principal | None:
    """The caller when a token is sent (it must then be valid: 401 otherwise), else None.
    For public resources that show more to their owner (draft offers)."""
    if "authorization" not in request.headers and "access_token" not in request.query_params:
        return None
    return await authenticate(session, await verify_bearer(request, None, None))


async def require(
    security_scopes: SecurityScopes,
    principal: Annotated[Principal, Depends(authenticate)],
) -> Principal:
    check_scopes(security_scopes.scopes, principal)
    return principal


async def require_unconfirmed(
    security_scopes: SecurityScopes,
    principal: Annotated[Principal, Depends(verify_bearer)],
) -> Unconfirmed:
    check_scopes(security_scopes.scopes, principal)
    return Unconfirmed(principal)


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
