"""The token endpoint's grants: client credentials and the leaver's PIN (API.md §1).

Errors are :class:`OAuthError` (RFC 6749 §5.2 codes); ``api/oauth.py`` renders them.

The PIN grant's defences, in the order an attempt meets them
-------------------------------------------------------------
1. **Per address** (``auth/throttle.py``): at most ``ONWARD_SIGN_IN_PER_MINUTE`` attempts
   from one client address in any minute, else 429 ``slow_down``. A caller that
   authenticated as a confidential client (a kiosk sending its credentials) is not an
   unauthenticated sign-in and is not counted.
2. **A bounded pool** (``pins.PinCheckPool``): a place for the Argon2 check, or 503
   ``temporarily_unavailable`` at once. Taken before the attempt is counted against the
   reference, so a busy server never costs a leaver one of their five tries.
3. **Per reference** (``pin_attempts``, one row per well-formed reference, issued or
   not): one ``INSERT … ON CONFLICT DO UPDATE`` both counts the attempt and reads the
   profile's hash. It takes a slot only while fewer than 5 are counted (or the lock has
   run out, which restarts the count), and the slot that makes 5 sets the 15-minute lock
   there and then; PostgreSQL evaluates that on the locked row, so however many attempts
   race on however many replicas, at most 5 PINs are compared. A success deletes the row
   (count and lock cleared); a failure writes nothing more. An unknown reference goes
   through the very same statement and an Argon2 check against a dummy hash, so its
   answers (400 five times, then 429) and its cost are those of an issued one.

The counting statements commit in short transactions of their own, before Argon2 runs
and whatever the HTTP answer is, so no row lock is held across a hash.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_plus

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import scopes as S
from app.auth.clients import AuthenticatedClient, authenticate_client
from app.auth.pin_sign_in import (
    PinChecksBusy,
    ReferenceLocked,
    SignInLimits,
    SignInThrottled,
    WrongReferenceOrPin,
    verify_leaver_pin,
)
from app.auth.principal import LEAVER_CLIENT_ID
from app.auth.tokens import IssuedToken, TokenService
from app.db import Database

CLIENT_CREDENTIALS = "client_credentials"
LEAVER_PIN = "urn:onward:grant-type:leaver-pin"
# Exchanged in auth/codes.py (API.md §7); listed here so every grant is in one tuple.
AUTHORIZATION_CODE = "authorization_code"
GRANT_TYPES = (AUTHORIZATION_CODE, CLIENT_CREDENTIALS, LEAVER_PIN)


class OAuthError(Exception):
    """An RFC 6749 §5.2 error. ``description`` never contains what the caller sent."""

    def __init__(
        self,
        error: str,
        description: str,
        *,
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)


def invalid_client() -> OAuthError:
    # RFC 6749 §5.2: a 401 for a failed client authentication carries the challenge.
    return OAuthError(
        "invalid_client",
        "Client authentication failed",
        status=401,
        headers={"WWW-Authenticate": 'Basic realm="onward"'},
    )


def wrong_reference_or_pin() -> OAuthError:
    # One answer for an unknown reference and a wrong PIN: neither is revealed.
    return OAuthError("invalid_grant", "The reference or the PIN is wrong")


def locked(retry_after: int) -> OAuthError:
    return OAuthError(
        "invalid_grant",
        "Too many wrong PINs for this reference: try again later",
        status=429,
        headers={"Retry-After": str(retry_after)},
    )


def throttled(retry_after: int) -> OAuthError:
    # RFC 8628's registered code for "you are polling the token endpoint too fast".
    return OAuthError(
        "slow_down",
        "Too many sign-in attempts from your address: try again later",
        status=429,
        headers={"Retry-After": str(retry_after)},
    )


def busy() -> OAuthError:
    return OAuthError(
        "temporarily_unavailable",
        "Too many sign-ins are being checked right now: try again in a moment",
        status=503,
        headers={"Retry-After": str(PinChecksBusy.retry_after)},
    )


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    secrets: tuple[str, ...]  # the secret as sent, and its form-decoded reading if different
    method: str  # client_secret_basic | client_secret_post | none


@dataclass(frozen=True)
class TokenRequest:
    """The form parameters (each at most once, RFC 6749 §3.2), the Authorization header
    and the client address (``auth/client_address.py``)."""

    params: dict[str, str]
    authorization: str | None = None
    client_address: str = "unknown"


def parse_form(body: bytes) -> dict[str, str]:
    """``application/x-www-form-urlencoded`` parameters; a repeated one is invalid_request."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise invalid_request("The body is not UTF-8 form data") from exc
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise invalid_request("A parameter appears more than once")
        params[name] = value
    return params


def client_credentials_of(request: TokenRequest) -> ClientCredentials | None:
    """What the caller presented to authenticate, by exactly one method (RFC 6749 §2.3)."""
    header = request.authorization
    basic = None
    if header and header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise invalid_client() from None
        raw_id, sep, raw_secret = decoded.partition(":")
        if not sep or not raw_id:
            raise invalid_client()
        # RFC 6749 §2.3.1 form-encodes both parts before base64; many clients do not.
        # Our ids and generated secrets read the same either way; accept both readings.
        readings = dict.fromkeys((raw_secret, unquote_plus(raw_secret)))
        basic = ClientCredentials(unquote_plus(raw_id), tuple(readings), "client_secret_basic")
    form_id = request.params.get("client_id")
    form_secret = request.params.get("client_secret")
    if basic is not None:
        if form_id is not None or form_secret is not None:
            raise invalid_request("Authenticate the client by one method only")
        return basic
    if form_secret is not None:
        if not form_id:
            raise invalid_client()
        return ClientCredentials(form_id, (form_secret,), "client_secret_post")
    if form_id is not None:
        return ClientCredentials(form_id, (), "none")
    return None


async def authenticated_client(
    db: Database, credentials: ClientCredentials | None
) -> AuthenticatedClient:
    """The confidential client that authenticated this request, else invalid_client."""
    if credentials is None or not credentials.secrets:
        raise invalid_client()
    for secret in credentials.secrets:
        client = await authenticate_client(db, credentials.client_id, secret)
        if client is not None:
            return client
    raise invalid_client()


def granted_scopes(client: AuthenticatedClient, requested: str | None) -> list[str]:
    """The scopes to put in the token: all the client's when none are asked for."""
    if requested is None or not requested.strip():
        return list(client.scopes)
    wanted = set(requested.split())
    if not wanted <= set(client.scopes):
        raise OAuthError("invalid_scope", "A requested scope is not one this client holds")
    return [s for s in client.scopes if s in wanted]


async def grant_token(
    db: Database,
    tokens: TokenService,
    request: TokenRequest,
    limits: SignInLimits,
) -> IssuedToken:
    """Issue a token for ``request`` (RFC 6749 §4.4 and the leaver's PIN), or OAuthError."""
    grant_type = request.params.get("grant_type")
    if not grant_type:
        raise invalid_request("grant_type is required")
    if grant_type not in (CLIENT_CREDENTIALS, LEAVER_PIN):
        raise OAuthError(
            "unsupported_grant_type",
            "Use authorization_code, client_credentials or the leaver-pin grant",
        )
    credentials = client_credentials_of(request)
    if grant_type == CLIENT_CREDENTIALS:
        return await client_credentials_grant(db, tokens, request, credentials)
    authenticated = False
    if credentials is not None:
        # Needs no client authentication; a caller that presents some must get it right.
        if credentials.secrets:
            await authenticated_client(db, credentials)
            authenticated = True
        elif credentials.client_id != LEAVER_CLIENT_ID:
            raise invalid_client()
    return await leaver_pin_grant(
        db.sessionmaker, tokens, request, limits, count_per_address=not authenticated
    )


async def client_credentials_grant(
    db: Database,
    tokens: TokenService,
    request: TokenRequest,
    credentials: ClientCredentials | None,
) -> IssuedToken:
    client = await authenticated_client(db, credentials)
    scopes = granted_scopes(client, request.params.get("scope"))
    return tokens.issue(
        subject=client.client_id,
        client_id=client.client_id,
        scopes=scopes,
        organisation_id=str(client.organisation_id),
    )


async def leaver_pin_grant(
    sessionmaker: async_sessionmaker[AsyncSession],
    tokens: TokenService,
    request: TokenRequest,
    limits: SignInLimits,
    *,
    count_per_address: bool = True,
) -> IssuedToken:
    """The leaver's own token for a right reference and PIN (see the module docstring)."""
    raw_reference = request.params.get("reference")
    pin = request.params.get("pin")
    if not raw_reference or not pin:
        raise invalid_request("Give both reference and pin")
    try:
        profile_id = await verify_leaver_pin(
            sessionmaker,
            reference=raw_reference,
            pin=pin,
            client_address=request.client_address,
            limits=limits,
            count_per_address=count_per_address,
        )
    except SignInThrottled as exc:
        raise throttled(exc.retry_after) from None
    except PinChecksBusy:
        raise busy() from None
    except ReferenceLocked as exc:
        raise locked(exc.retry_after) from None
    except WrongReferenceOrPin:
        raise wrong_reference_or_pin() from None
    return tokens.issue(subject=str(profile_id), client_id=LEAVER_CLIENT_ID, scopes=[S.SELF])
