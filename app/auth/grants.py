"""The token endpoint's grants: client credentials and the leaver's PIN (API.md §1).

Errors are :class:`OAuthError` (RFC 6749 §5.2 codes); ``api/oauth.py`` renders them.

The PIN lock-out, and why the PIN grant manages its own transactions
--------------------------------------------------------------------
Each attempt first *reserves a slot* with one ``UPDATE … RETURNING``: it adds one to
``pin_failed_attempts`` only while fewer than 5 attempts are counted (or the lock has run
out, which resets the count in the same statement). PostgreSQL re-checks that condition
on the locked row, so however many attempts race, at most 5 get a slot and at most 5
PINs are ever compared. The slot is committed at once and the row lock released *before*
Argon2 runs, so concurrent attempts never queue behind a hash. Success resets the count;
a failure that leaves the count at 5 sets ``pin_locked_until`` (now + 15 minutes). These
writes must stand whatever the HTTP answer is, so they are short transactions of their
own rather than part of the request's session.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_plus

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth import pins
from app.auth import scopes as S
from app.auth.clients import AuthenticatedClient, authenticate_client
from app.auth.principal import LEAVER_CLIENT_ID
from app.auth.tokens import IssuedToken, TokenService
from app.db import Database
from app.profiles.reference import normalise_reference

CLIENT_CREDENTIALS = "client_credentials"
LEAVER_PIN = "urn:onward:grant-type:leaver-pin"
GRANT_TYPES = (CLIENT_CREDENTIALS, LEAVER_PIN)

MAX_PIN_ATTEMPTS = 5
PIN_LOCK_SECONDS = 15 * 60


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


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    secrets: tuple[str, ...]  # the secret as sent, and its form-decoded reading if different
    method: str  # client_secret_basic | client_secret_post | none


@dataclass(frozen=True)
class TokenRequest:
    """The form parameters (each at most once, RFC 6749 §3.2) and the Authorization header."""

    params: dict[str, str]
    authorization: str | None = None


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
) -> IssuedToken:
    """Issue a token for ``request`` (RFC 6749 §4.4 and the leaver's PIN), or OAuthError."""
    grant_type = request.params.get("grant_type")
    if not grant_type:
        raise invalid_request("grant_type is required")
    if grant_type not in GRANT_TYPES:
        raise OAuthError("unsupported_grant_type", "Use client_credentials or the leaver-pin grant")
    credentials = client_credentials_of(request)
    if grant_type == CLIENT_CREDENTIALS:
        return await client_credentials_grant(db, tokens, request, credentials)
    if credentials is not None:
        # Needs no client authentication; a caller that presents some must get it right.
        if credentials.secrets:
            await authenticated_client(db, credentials)
        elif credentials.client_id != LEAVER_CLIENT_ID:
            raise invalid_client()
    return await leaver_pin_grant(db.sessionmaker, tokens, request)


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


# One statement: take a slot if fewer than 5 attempts are counted, or if the lock has run
# out (then the count restarts at 1 and the lock is cleared).
_RESERVE = text(
    """
    UPDATE profiles SET
        pin_failed_attempts = CASE WHEN pin_locked_until <= now() THEN 1
                                   ELSE pin_failed_attempts + 1 END,
        pin_locked_until = CASE WHEN pin_locked_until <= now() THEN NULL
                                ELSE pin_locked_until END
    WHERE reference = :reference
      AND ((pin_locked_until IS NULL AND pin_failed_attempts < :max_attempts)
           OR pin_locked_until <= now())
    RETURNING id, pin_hash
    """
)
_LOCK_STATE = text(
    "SELECT CEIL(EXTRACT(EPOCH FROM (pin_locked_until - now())))::int AS seconds_left "
    "FROM profiles WHERE reference = :reference"
)
_SUCCEEDED = text(
    "UPDATE profiles SET pin_failed_attempts = 0, pin_locked_until = NULL WHERE id = :id"
)
_FAILED = text(
    """
    UPDATE profiles SET pin_locked_until = now() + make_interval(secs => :lock_seconds)
    WHERE id = :id AND pin_failed_attempts >= :max_attempts AND pin_locked_until IS NULL
    """
)


async def leaver_pin_grant(
    sessionmaker: async_sessionmaker[AsyncSession],
    tokens: TokenService,
    request: TokenRequest,
) -> IssuedToken:
    """The leaver's own token for a right reference and PIN (see the module docstring)."""
    raw_reference = request.params.get("reference")
    pin = request.params.get("pin")
    if not raw_reference or not pin:
        raise invalid_request("Give both reference and pin")
    if not pins.PIN_PATTERN.fullmatch(pin):
        # Cannot be anyone's PIN: refused without touching a profile, so it costs no attempt.
        raise wrong_reference_or_pin()
    reference = normalise_reference(raw_reference)

    slot = None
    if reference is not None:
        async with sessionmaker() as session, session.begin():
            slot = (
                await session.execute(
                    _RESERVE, {"reference": reference, "max_attempts": MAX_PIN_ATTEMPTS}
                )
            ).first()
            if slot is None:
                state = (await session.execute(_LOCK_STATE, {"reference": reference})).first()
                if state is not None:
                    # Locked, or its last 5 attempts are still being checked.
                    left = state.seconds_left
                    raise locked(max(1, left) if left is not None else PIN_LOCK_SECONDS)

    if slot is None:
        # Unknown reference: the same Argon2 work and the same answer as a wrong PIN.
        await pins.verify_pin(pins.DUMMY_HASH, pin)
        raise wrong_reference_or_pin()

    profile_id: uuid.UUID = slot.id
    right = await pins.verify_pin(slot.pin_hash, pin)
    async with sessionmaker() as session, session.begin():
        if right:
            await session.execute(_SUCCEEDED, {"id": profile_id})
        else:
            await session.execute(
                _FAILED,
                {
                    "id": profile_id,
                    "max_attempts": MAX_PIN_ATTEMPTS,
                    "lock_seconds": PIN_LOCK_SECONDS,
                },
            )
    if not right:
        raise wrong_reference_or_pin()
    return tokens.issue(subject=str(profile_id), client_id=LEAVER_CLIENT_ID, scopes=[S.SELF])
