"""The OAuth 2.0 endpoints: token (RFC 6749), pushed authorization requests (RFC 9126),
revocation (RFC 7009), introspection (RFC 7662). ``GET /oauth/authorize`` is a page
(``pages/oauth.py``).

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

from app import demo_ids
from app.api.deps import token_service
from app.api.session import Session
from app.auth import codes, grants
from app.auth.client_address import client_address
from app.auth.grants import (
    OAuthError,
    TokenRequest,
    authenticated_client,
    client_credentials_of,
    invalid_client,
    invalid_request,
)
from app.auth.pin_sign_in import SignInLimits
from app.auth.principal import LEAVER_CLIENT_ID
from app.auth.revocation import introspect_token, revoke_token
from app.auth.scopes import ALL_SCOPES
from app.db import Database
from app.routing import LeanRoute
from app.settings import Settings

router = APIRouter(tags=["oauth"])
# The token endpoint: a LeanRoute (app/routing.py) that main.py serves first.
hot_router = APIRouter(tags=["oauth"], route_class=LeanRoute)

FORM = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class GrantedDetails(BaseModel):
    """RFC 9396 authorization details as granted: `fields` lists what the leaver ticked."""

    type: str = Field(examples=["onward_profile"])
    fields: list[str] = Field(examples=[["contact.phone", "release.expected_at"]])
    purpose: str = Field(examples=["support_delivery"])
    expires_at: str = Field(description="When the grant ends (RFC 3339).")
    grant_id: str = Field(description="The leaver's grant this token is bound to.")


class TokenResponse(BaseModel):
    access_token: str = Field(description="An ES256 JWT (RFC 9068); send it as `Bearer`.")
    token_type: str = Field(default="Bearer", examples=["Bearer"])
    expires_in: int = Field(description="Seconds until the token expires.", examples=[600])
    scope: str = Field(description="Space-separated scopes granted.", examples=["profiles:read"])
    profile_id: str | None = Field(
        default=None,
        description="authorization_code only: the leaver's profile id (read it with "
        "`GET /v1/profiles/{profile_id}`).",
    )
    authorization_details: list[GrantedDetails] | None = Field(
        default=None,
        description="authorization_code only: the grant the leaver made, which the token is "
        "bound to: it discloses that grant's leaves only, and nothing once it ends.",
    )


class PushedAuthorizationResponse(BaseModel):
    request_uri: str = Field(
        examples=["urn:ietf:params:oauth:request_uri:6esc_11ACC5bwc014ltc14eY22c"]
    )
    expires_in: int = Field(
        examples=[60], description="Seconds within which the browser must reach /oauth/authorize."
    )


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


def _form_body(
    properties: dict[str, Any], required: list[str], examples: dict[str, Any]
) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                FORM: {
                    "schema": {"type": "object", "properties": properties, "required": required},
                    "examples": examples,
                }
            },
        }
    }


# The demo's leaver (`onward serve --demo` prints it); client secrets exist only at run time
# (the demo prints fresh ones on every start), so the examples that need one say so.
_DEMO_SECRET = "<the secret `onward serve --demo` printed>"  # noqa: S105 - a placeholder


_CLIENT_AUTH_FIELDS = {
    "client_id": {"type": "string", "description": "client_secret_post (or use HTTP Basic)"},
    "client_secret": {"type": "string", "description": "client_secret_post (or use HTTP Basic)"},
}
_TOKEN_EXAMPLES: dict[str, Any] = {
    "leaver-pin": {
        "summary": "A leaver signs in (the demo's first leaver)",
        "value": {
            "grant_type": "urn:onward:grant-type:leaver-pin",
            "reference": demo_ids.LEAVER_REFERENCE,
            "pin": demo_ids.LEAVER_PIN,
        },
    },
    "client-credentials": {
        "summary": "An organisation's system (the demo partner; paste its secret)",
        "value": {
            "grant_type": "client_credentials",
            "scope": "profiles:read",
            "client_id": "demo-partner",
            "client_secret": _DEMO_SECRET,
        },
    },
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
        "code": {"type": "string", "description": "authorization_code: the code (60 s, once)"},
        "redirect_uri": {
            "type": "string",
            "description": "authorization_code: the redirect URI of the pushed request",
        },
        "code_verifier": {
            "type": "string",
            "description": "authorization_code: the PKCE verifier (43–128 characters)",
        },
        **_CLIENT_AUTH_FIELDS,
    },
    ["grant_type"],
    _TOKEN_EXAMPLES,
)
_PAR_BODY = _form_body(
    {
        "response_type": {"type": "string", "enum": ["code"]},
        "redirect_uri": {
            "type": "string",
            "description": "Exactly one of the client's registered redirect URIs.",
        },
        "state": {
            "type": "string",
            "maxLength": codes.MAX_STATE_LENGTH,
            "description": "Returned unchanged with the code or the error.",
        },
        "code_challenge": {
            "type": "string",
            "description": "BASE64URL(SHA-256(code_verifier)), 43 characters (RFC 7636).",
        },
        "code_challenge_method": {"type": "string", "enum": ["S256"]},
        "authorization_details": {
            "type": "string",
            "description": "A JSON array holding one object (RFC 9396): "
            '`[{"type": "onward_profile", "fields": ["contact.phone"], "purpose": '
            '"support_delivery", "expires_at": "2027-06-01T00:00:00Z"}]` '
            "(`expires_at` optional: default 365 days, at most 730).",
        },
        "scope": {"type": "string", "enum": ["profiles:read"], "description": "Optional."},
        **_CLIENT_AUTH_FIELDS,
    },
    [
        "response_type",
        "redirect_uri",
        "code_challenge",
        "code_challenge_method",
        "authorization_details",
    ],
    {
        "partner": {
            "summary": "The demo partner asks for three fields (paste its secret)",
            "value": {
                "response_type": "code",
                "redirect_uri": demo_ids.PARTNER_REDIRECT_URIS[0],
                "state": "af0ifjsldkj",
                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                "code_challenge_method": "S256",
                "authorization_details": '[{"type": "onward_profile", "fields": '
                '["identity.given_name", "contact.phone", "release.expected_at"], '
                '"purpose": "support_delivery"}]',
                "client_id": "demo-partner",
                "client_secret": _DEMO_SECRET,
            },
        },
    },
)
_TOKEN_ONLY_FIELDS = {
    "token": {"type": "string", "description": "The access token."},
    "token_type_hint": {"type": "string", "description": "Accepted and ignored."},
    **_CLIENT_AUTH_FIELDS,
}
_REVOKE_BODY = _form_body(
    _TOKEN_ONLY_FIELDS,
    ["token"],
    {
        "leaver": {
            "summary": "A leaver signs out (a public client: no secret)",
            "value": {"token": "<the leaver's access token>", "client_id": "onward-leaver"},
        },
    },
)
_INTROSPECT_BODY = _form_body(
    _TOKEN_ONLY_FIELDS,
    ["token"],
    {
        "client": {
            "summary": "A client asks about one of its tokens (paste its secret)",
            "value": {
                "token": "<an access token of this client>",
                "client_id": "demo-partner",
                "client_secret": _DEMO_SECRET,
            },
        },
    },
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
    operation_id="issueToken",
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

    * `grant_type=authorization_code` (API.md §7) with `code`, `redirect_uri` and
      `code_verifier`, client-authenticated as above. The code is single use, lives 60 s
      and is bound to the client, the redirect URI and the PKCE challenge; the answer adds
      `profile_id` and the grant in `authorization_details`, and the token (a `grant_id`
      claim) discloses that grant's leaves only, and nothing once it ends. A code used a
      second time fails (`invalid_grant`) and revokes the token its first use gave.

    Errors are RFC 6749 §5.2 JSON: `invalid_request`, `invalid_client` (401, with
    `WWW-Authenticate: Basic`), `invalid_grant`, `invalid_scope`, `unauthorized_client`,
    `unsupported_grant_type`.
    """
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    limits = SignInLimits(request.app.state.pin_checks, settings.sign_in_per_minute)
    try:
        token_request = await _token_request(request)
        if token_request.params.get("grant_type") == grants.AUTHORIZATION_CODE:
            exchange = await codes.exchange_code(db, token_service(request), token_request)
            return _answer(
                TokenResponse(
                    access_token=exchange.issued.token,
                    expires_in=exchange.issued.expires_in,
                    scope=exchange.issued.scope,
                    profile_id=str(exchange.profile_id),
                    authorization_details=[
                        GrantedDetails(**d) for d in exchange.authorization_details
                    ],
                ).model_dump()
            )
        issued = await grants.grant_token(db, token_service(request), token_request, limits)
    except OAuthError as exc:
        return _error(exc)
    return _answer(
        TokenResponse(
            access_token=issued.token, expires_in=issued.expires_in, scope=issued.scope
        ).model_dump(exclude_none=True)
    )


@router.post(
    "/oauth/par",
    summary="Push an authorization request",
    status_code=201,
    response_model=PushedAuthorizationResponse,
    responses=_ERRORS,
    openapi_extra=_PAR_BODY,
)
async def pushed_authorization_request(request: Request, session: Session) -> JSONResponse:
    """RFC 9126, required for the authorization code flow (API.md §7). Client-authenticated
    exactly as the token endpoint (Basic or form fields).

    The client needs the `profiles:read` scope (else `unauthorized_client`) and must name
    one of its registered `redirect_uris` exactly. Parameters: `response_type=code`,
    `redirect_uri`, `state` (optional), PKCE `code_challenge` with
    `code_challenge_method=S256` (`plain` or no PKCE is `invalid_request`), and
    `authorization_details`, a JSON array with one `{"type": "onward_profile", "fields",
    "purpose", "expires_at"?}` object validated as a grant would be (an unknown path,
    purpose or member is `invalid_authorization_details`).

    The answer's `request_uri` must reach `GET /oauth/authorize?client_id=…&request_uri=…`
    within `expires_in` (60) seconds, and works once.
    """
    try:
        token_request = await _token_request(request)
        caller = await authenticated_client(
            request.app.state.db, client_credentials_of(token_request)
        )
        pushed = await codes.push_request(session, caller, token_request.params)
    except OAuthError as exc:
        return _error(exc)
    return _answer({"request_uri": pushed.request_uri, "expires_in": pushed.expires_in}, status=201)


def _token_param(token_request: TokenRequest) -> str:
    value = token_request.params.get("token")
    if not value:
        raise invalid_request("token is required")
    return value


@router.post(
    "/oauth/revoke",
    summary="Revoke an access token",
    responses=_ERRORS,
    openapi_extra=_REVOKE_BODY,
)
async def revoke_access_token(request: Request, session: Session) -> JSONResponse:
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
    openapi_extra=_INTROSPECT_BODY,
)
async def introspect_access_token(request: Request, session: Session) -> JSONResponse:
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
