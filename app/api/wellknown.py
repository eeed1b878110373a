"""Discovery: the public keys (JWKS) and the authorization server metadata (RFC 8414)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api.deps import token_service
from app.auth.grants import GRANT_TYPES
from app.auth.scopes import ALL_SCOPES
from app.settings import Settings

router = APIRouter(tags=["oauth"])

# Public and the same for everyone; short enough that a rotation is seen within minutes.
PUBLIC_CACHE = {"Cache-Control": "public, max-age=300"}
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


@router.get("/.well-known/jwks.json", summary="Token verification keys")
async def read_jwks(request: Request) -> JSONResponse:
    """The public keys (JWK Set, RFC 7517) that verify our access tokens and consent
    receipts. During a key rotation it lists several keys: the new one signs, the old ones
    still verify what they signed. Match a token's `kid` header to a key's `kid`."""
    return JSONResponse(token_service(request).keys.jwks(), headers=PUBLIC_CACHE)


def server_metadata(settings: Settings) -> dict[str, Any]:
    base = settings.issuer.rstrip("/")
    return {
        "issuer": settings.issuer,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "pushed_authorization_request_endpoint": f"{base}/oauth/par",
        "require_pushed_authorization_requests": True,
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "grant_types_supported": list(GRANT_TYPES),
        "scopes_supported": list(ALL_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_details_types_supported": ["onward_profile"],
        "authorization_response_iss_parameter_supported": True,
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": [*AUTH_METHODS, "none"],
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "service_documentation": f"{base}/docs",
    }


@router.get("/.well-known/oauth-authorization-server", summary="Authorization server metadata")
async def read_authorization_server_metadata(request: Request) -> JSONResponse:
    """RFC 8414 metadata: where the authorization, pushed request (RFC 9126, required),
    token, revocation, introspection and key endpoints are, which grants, scopes and
    client authentication methods are supported, PKCE `S256` only, the `onward_profile`
    authorization details type (RFC 9396) and the `iss` response parameter (RFC 9207). The
    revocation
    endpoint also takes `none` for the leaver's public client (`client_id=onward-leaver`),
    so a leaver can sign out."""
    settings: Settings = request.app.state.settings
    return JSONResponse(server_metadata(settings), headers=PUBLIC_CACHE)
