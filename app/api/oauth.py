"""The OAuth 2.0 endpoints: token (RFC 6749), revocation (RFC 7009), introspection (RFC 7662).

Bodies are ``application/x-www-form-urlencoded``, read here by hand: anything else (JSON,
a missing ``grant_type``, a repeated parameter) is an RFC 6749 ``invalid_request``, never a
problem document or FastAPI's 422. Every answer is ``Cache-Control: no-store`` and
``Pragma: no-cache`` (RFC 6749 §5.1).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.api.deps import token_service
from app.auth import grants
from app.auth.client_address import client_address
from app.auth.grants import (
    OAuthError,
    SignInLimits,
    TokenRequest,
    authenticated_client,
    client_credentials_of,
    invalid_client,
    invalid_request,
)
from app.auth.principal import LEAVER_CLIENT_ID
from app.auth.revocation import introspect_token, revoke_token
from app.auth.scopes import ALL_SCOPES
from app.db import Database, Session
from app.routing import LeanRoute
from app.settings import Settings

router = APIRouter(tags=["oauth"])
# The token endpoint: a LeanRoute (app/routing.py) that main.py serves first.
hot_router = APIRouter(tags=["oauth"], route_class=LeanRoute)

FORM = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TokenResponse(BaseModel):
    access_token: str = Field(description="An ES256 JWT (RFC 9068); send it as `Bearer`.")
    token_type: str = Field(default="Bearer", examples=["Bearer"])
    expires_in: int = Field(description="Seconds until the token expires.", examples=[600])
    scope: str = Field(description="Space-separated scopes granted.", examples=["profiles:read"])


class OAuthErrorBody(BaseModel):
    error: str = Field(
        examples=["invalid_grant"],
        description="invalid_request · invalid_client · invalid_grant · invalid_scope · "
        "unsupported_grant_type · slow_down (429: too many sign-ins from your address) · "
        "temporarily_unavailable (503: try again after `Retry-After` seconds)",
    )
    error_description: str


class Introspection(BaseModel):
    active: bool
    scope: str | None = None
    client_id: str | None = None
    sub: str | None = None
    exp: int | None = None
    iat: int | None = None
    iss: str | None = None
    aud: str | None = None
    jti: str | None = None
    org: str | None = Field(default=None, description="The client's organisation id.")
    token_type: str | None = None


def _form_body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                FORM: {"schema": {"type": "object", "properties": properties, "required": required}}
            },
        }
    }


_CLIENT_AUTH_FIELDS = {
    "client_id": {"type": "string", "description": "client_secret_post (or use HTTP Basic)"},
    "client_secret": {"type": "string", "description": "client_secret_post (or use HTTP Basic)"},
}
_TOKEN_BODY = _form_body(
    {
        "grant_type": {
            "type": "string",
            "enum": list(grants.GRANT_TYPES),
        },
        "scope": {
            "type": "string",
            "description": "client_credentials: space-separated subset of the client's scopes "
            "(absent: all of them). One of: " + " ".join(s for s in ALL_SCOPES if s != "self"),
        },
        "reference": {
            "type": "string",
            "description": "leaver-pin: the leaver's reference, e.g. ONW-7K3M-Q9TX",
        },
        "pin": {"type": "string", "description": "leaver-pin: the leaver's 6–12 digit PIN"},
        **_CLIENT_AUTH_FIELDS,
    },
    ["grant_type"],
)
_TOKEN_ONLY_BODY = _form_body(
    {
        "token": {"type": "string"},
        "token_type_hint": {"type": "string", "description": "Accepted and ignored."},
        **_CLIENT_AUTH_FIELDS,
    },
    ["token"],
)
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": OAuthErrorBody, "description": "RFC 6749 §5.2 error"},
    401: {"model": OAuthErrorBody, "description": "invalid_client"},
}


def _answer(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={**(headers or {}), **NO_STORE})


def _error(exc: OAuthError) -> JSONResponse:
    return JSONResponse(
        {"error": exc.error, "error_description": exc.description},
        status_code=exc.status,
        headers={**exc.headers, **NO_STORE},
    )


async def _token_request(request: Request) -> TokenRequest:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        raise invalid_request(f"Send the parameters as {FORM}")
    params = grants.parse_form(await request.body())
    # PostgreSQL stores no NUL character, so no client id, secret, reference or PIN holds
    # one: answer here, before a look-up the database would refuse (a 500 otherwise). A
    # token to revoke or introspect is only ever verified, never looked up, so RFC 7009's
    # "200 whatever the token" and RFC 7662's inactive answer still apply to it.
    if any(
        "\x00" in name or "\x00" in value
        for name, value in params.items()
        if name not in ("token", "token_type_hint")
    ):
        raise invalid_request("A parameter holds a NUL character")
    settings: Settings = request.app.state.settings
    token_request = TokenRequest(
        params,
        request.headers.get("authorization"),
        client_address(request.scope, settings.trusted_networks),
    )
    credentials = client_credentials_of(token_request)
    if credentials is not None and "\x00" in credentials.client_id:
        raise invalid_client()
    return token_request


@hot_router.post(
    "/oauth/token",
    summary="Issue an access token",
    response_model=TokenResponse,
    responses={
        **_ERRORS,
        429: {
            "model": OAuthErrorBody,
            "description": "The reference is locked (`invalid_grant`), or too many sign-in "
            "attempts from your address (`slow_down`); see `Retry-After`",
        },
        503: {
            "model": OAuthErrorBody,
            "description": "Too many PINs being checked (`temporarily_unavailable`), or the "
            "database is unavailable; see `Retry-After`",
        },
    },
    openapi_extra=_TOKEN_BODY,
)
async def token(request: Request) -> JSONResponse:
    """RFC 6749 token endpoint, form-encoded.

    * `grant_type=client_credentials`: authenticate the client with HTTP Basic
      (`client_secret_basic`) **or** `client_id` + `client_secret` form fields
      (`client_secret_post`), not both. `scope` is optional (space-separated, a subset of the
      client's scopes; absent means all of them). A disabled client is `invalid_client`.
    * `grant_type=urn:onward:grant-type:leaver-pin` with `reference` and `pin`: the leaver's
      own token (`scope=self`, `sub` = profile id). No client authentication is needed; if
      some is sent it must be right. A wrong reference and a wrong PIN get the same
      `invalid_grant`. After 5 consecutive wrong PINs the reference is locked for 15 minutes:
      every attempt then answers **429** (`error=invalid_grant`) with `Retry-After` in seconds.
      This holds for any well-formed reference, issued or not, so the answers never tell
      whether a reference exists. Without client authentication, at most
      `ONWARD_SIGN_IN_PER_MINUTE` (default 20) attempts are taken from one client address
      in any minute: more answer **429** `slow_down` with `Retry-After`. PINs are checked
      in a bounded pool: when it is full the answer is **503** `temporarily_unavailable`
      with `Retry-After` (the attempt is not counted against the reference).

    Errors are RFC 6749 §5.2 JSON: `invalid_request`, `invalid_client` (401, with
    `WWW-Authenticate: Basic`), `invalid_grant`, `invalid_scope`, `unsupported_grant_type`.
    """
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    limits = SignInLimits(request.app.state.pin_checks, settings.sign_in_per_minute)
    try:
        issued = await grants.grant_token(
            db, token_service(request), await _token_request(request), limits
        )
    except OAuthError as exc:
        return _error(exc)
    return _answer(
        TokenResponse(
            access_token=issued.token, expires_in=issued.expires_in, scope=issued.scope
        ).model_dump()
    )


def _token_param(token_request: TokenRequest) -> str:
    value = token_request.params.get("token")
    if not value:
        raise invalid_request("token is required")
    return value


@router.post(
    "/oauth/revoke",
    summary="Revoke an access token",
    responses=_ERRORS,
    openapi_extra=_TOKEN_ONLY_BODY,
)
async def revoke(request: Request, session: Session) -> JSONResponse:
    """RFC 7009. Client-authenticated (Basic or form, as for the token endpoint).

    A client may revoke the tokens issued to it; the revoked token is refused from the
    next request on, on every replica. A leaver signs out by revoking their own token with
    `client_id=onward-leaver` and no secret (the leaver is a public client). Whatever the
    token (unknown, expired, garbage, another client's), the answer is 200 with an empty
    JSON object and nothing else changes.
    """
    try:
        token_request = await _token_request(request)
        credentials = client_credentials_of(token_request)
        token = _token_param(token_request)
        if credentials is not None and not credentials.secrets:
            if credentials.client_id != LEAVER_CLIENT_ID:
                raise invalid_client()
            await revoke_token(session, token_service(request), None, token)
        else:
            caller = await authenticated_client(request.app.state.db, credentials)
            await revoke_token(session, token_service(request), caller, token)
    except OAuthError as exc:
        return _error(exc)
    return _answer({})


@router.post(
    "/oauth/introspect",
    summary="Introspect an access token",
    response_model=Introspection,
    response_model_exclude_none=True,
    responses=_ERRORS,
    openapi_extra=_TOKEN_ONLY_BODY,
)
async def introspect(request: Request, session: Session) -> JSONResponse:
    """RFC 7662. Client-authenticated (Basic or form).

    A client sees its own tokens; a client with the `admin` scope sees any of ours. The
    answer is `{"active": false}` for a revoked or expired token, a token of a disabled
    client, a token we did not issue, and another client's token.
    """
    try:
        token_request = await _token_request(request)
        credentials = client_credentials_of(token_request)
        token = _token_param(token_request)
        caller = await authenticated_client(request.app.state.db, credentials)
        answer = await introspect_token(session, token_service(request), caller, token)
    except OAuthError as exc:
        return _error(exc)
    return _answer(answer)
