"""The authorization code flow (API.md §7): pushed requests, codes and their exchange.

    partner ──POST /oauth/par──▶ push_request        (client-authenticated, 60 s, once)
    browser ──GET /oauth/authorize──▶ consume_request (the request moves to the session)
    leaver  ──allow──▶ consent.service.grant_consent + issue_code       (60 s, once)
    partner ──POST /oauth/token code──▶ exchange_code (token bound to the grant)

Invariants:

* request URIs and codes are 256 random bits, stored only as SHA-256 (``models/oauth.py``);
* a request URI is consumed by one ``UPDATE … WHERE used_at IS NULL AND expires_at > now()``:
  however many browsers race, one wins;
* a code is bound to its client, redirect URI and PKCE challenge (S256 only) and lives
  60 s. Each presentation by its client adds one to ``uses`` in one ``UPDATE``, which
  holds the row's lock until the exchange commits: the presentation that makes it 1 is
  the only one that can issue a token, any later one fails *and* revokes the token the
  first issued (RFC 6749 §4.1.2), even while the first is still in flight. A failed
  first presentation (wrong verifier, wrong redirect URI, expired) burns the code too.
  A code shown by *another* client is refused without touching it: that client cannot
  burn codes it was never given;
* the grant is *not* revoked on a replay: it is the leaver's decision, with its receipt,
  to an organisation; a replayed code says the client's side leaked or retried, and the
  tokens that code issued are what RFC 6749 asks us to cut off. The leaver still sees and
  can revoke the grant.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import repository
from app.auth import scopes as S
from app.auth.clients import AuthenticatedClient
from app.auth.grants import (
    OAuthError,
    TokenRequest,
    authenticated_client,
    client_credentials_of,
    invalid_request,
)
from app.auth.tokens import IssuedToken, TokenService
from app.consent.catalogue import FIELDS, expand
from app.consent.schemas import FieldPath, PurposeCode
from app.consent.service import MAX_TERM
from app.db import Database
from app.models.base import utcnow
from app.schemas import StrictRequest

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
REQUEST_TTL_SECONDS = 60
CODE_TTL_SECONDS = 60
DETAILS_TYPE = "onward_profile"

MAX_STATE_LENGTH = 512
MAX_DETAILS_LENGTH = 8192
# RFC 7636 §4.1 and §4.2: a verifier is 43–128 unreserved characters; an S256 challenge
# is the unpadded base64url of a SHA-256, so always 43 characters.
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")


def _hash(handle: str) -> str:
    return hashlib.sha256(handle.encode()).hexdigest()


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def unauthorized_client(description: str) -> OAuthError:
    return OAuthError("unauthorized_client", description)


def invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


def invalid_details(description: str) -> OAuthError:
    # RFC 9396 §5.
    return OAuthError("invalid_authorization_details", description)


class ProfileDetails(StrictRequest):
    """One RFC 9396 authorization details object of type ``onward_profile``."""

    type: Literal["onward_profile"]
    fields: list[FieldPath] = Field(min_length=1, max_length=64)
    purpose: PurposeCode
    expires_at: AwareDatetime | None = None


def parse_authorization_details(raw: str | None, now: datetime) -> ProfileDetails:
    """The one ``onward_profile`` object of a request, validated as a grant would be."""
    if not raw:
        raise invalid_details("authorization_details is required")
    if len(raw) > MAX_DETAILS_LENGTH:
        raise invalid_details("authorization_details is too long")
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise invalid_details("authorization_details must be a JSON array") from None
    if not isinstance(parsed, list) or len(parsed) != 1:
        raise invalid_details(
            'authorization_details must be a JSON array holding one {"type": "onward_profile"} '
            "object"
        )
    try:
        details = ProfileDetails.model_validate(parsed[0])
    except ValidationError as exc:
        # Name what is wrong, never what was sent.
        where = sorted({".".join(str(p) for p in e["loc"][:1]) or "object" for e in exc.errors()})
        raise invalid_details(
            "authorization_details has an unknown type, field path, purpose or member, or "
            "a malformed expires_at (see GET /v1/consent/fields and /v1/consent/purposes): "
            + ", ".join(where)
        ) from None
    if details.expires_at is not None:
        if details.expires_at <= now:
            raise invalid_details("expires_at must be in the future")
        if details.expires_at > now + MAX_TERM:
            raise invalid_details("expires_at may be at most 730 days from now")
    return details


def requested_leaves(fields: list[str]) -> list[str]:
    """The leaves the requested paths stand for, in catalogue order: one checkbox each."""
    reached = expand(fields)
    return [f.path for f in FIELDS if f.path in reached]


# ---------------------------------------------------------------------------------------
# Pushed authorization requests (RFC 9126)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushedRequest:
    request_uri: str
    expires_in: int


async def push_request(
    session: AsyncSession, client: AuthenticatedClient, params: dict[str, str]
) -> PushedRequest:
    """Validate and store a pushed authorization request; its ``request_uri`` or OAuthError."""
    if S.PROFILES_READ not in client.scopes:
        raise unauthorized_client(
            "This client may not ask leavers for consent: it needs the profiles:read scope"
        )
    if "request_uri" in params or "request" in params:
        raise invalid_request("Push the parameters themselves, not a request or request_uri")
    if params.get("response_type") != "code":
        raise OAuthError("unsupported_response_type", "response_type must be code")
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri:
        raise invalid_request("redirect_uri is required")
    if redirect_uri not in client.redirect_uris:
        # Exact string comparison (RFC 9700 §4.1.3): never a prefix or a pattern.
        raise invalid_request("redirect_uri is not one registered for this client")
    scope = params.get("scope")
    if scope is not None and scope.split() not in ([], [S.PROFILES_READ]):
        raise OAuthError("invalid_scope", "The only scope of this flow is profiles:read")
    state = params.get("state")
    if state is not None and len(state) > MAX_STATE_LENGTH:
        raise invalid_request(f"state may be at most {MAX_STATE_LENGTH} characters")
    method = params.get("code_challenge_method")
    challenge = params.get("code_challenge")
    if not challenge:
        raise invalid_request("PKCE is required: send code_challenge and code_challenge_method")
    if method != "S256":
        raise invalid_request("code_challenge_method must be S256")
    if not _CHALLENGE.fullmatch(challenge):
        raise invalid_request("code_challenge must be the base64url SHA-256 of the verifier")
    now = utcnow()
    details = parse_authorization_details(params.get("authorization_details"), now)
    handle = secrets.token_urlsafe(32)
    await repository.forget_old_requests(session)
    await repository.insert_request(
        session,
        handle_hash=_hash(handle),
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        state=state,
        code_challenge=challenge,
        fields=requested_leaves(details.fields),
        purpose=details.purpose,
        grant_expires_at=details.expires_at,
        ttl=timedelta(seconds=REQUEST_TTL_SECONDS),
    )
    return PushedRequest(REQUEST_URI_PREFIX + handle, REQUEST_TTL_SECONDS)


@dataclass(frozen=True)
class PendingRequest:
    """A consumed request, as kept in the leaver's browser session until they decide.

    Plain JSON types only (it is serialised into the session)."""

    client_id: str
    organisation_id: str
    organisation_name: str
    redirect_uri: str
    state: str | None
    code_challenge: str
    fields: list[str]
    purpose: str
    grant_expires_at: str | None  # RFC 3339

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: Any) -> PendingRequest | None:
        """The request kept in a session, or None when it is not one (never trust shape)."""
        if not isinstance(value, dict):
            return None
        try:
            return cls(**value)
        except TypeError:
            return None


async def consume_request(
    session: AsyncSession, client_id: str | None, request_uri: str | None
) -> PendingRequest | None:
    """The pushed request behind ``request_uri``, used up now; None when it is unknown,
    another client's, expired, already used, or its redirect URI is no longer registered.

    None means the browser must get an error page and never a redirect: nothing said
    where to send it is trustworthy.
    """
    if not client_id or not request_uri or not request_uri.startswith(REQUEST_URI_PREFIX):
        return None
    if "\x00" in client_id or "\x00" in request_uri:
        return None
    handle = request_uri[len(REQUEST_URI_PREFIX) :]
    row = await repository.consume_request(session, handle_hash=_hash(handle), client_id=client_id)
    if row is None:
        return None
    return PendingRequest(
        client_id=row.client_id,
        organisation_id=str(row.organisation_id),
        organisation_name=row.organisation_name,
        redirect_uri=row.redirect_uri,
        state=row.state,
        code_challenge=row.code_challenge,
        fields=list(row.fields),
        purpose=row.purpose,
        grant_expires_at=(
            row.grant_expires_at.astimezone(UTC).isoformat()
            if row.grant_expires_at is not None
            else None
        ),
    )


async def still_registered(session: AsyncSession, pending: PendingRequest) -> bool:
    """Whether the client is live and still has the request's redirect URI: checked again
    before the decision is sent back, since an operator may have changed either."""
    return await repository.still_registered(
        session, client_id=pending.client_id, redirect_uri=pending.redirect_uri
    )


# ---------------------------------------------------------------------------------------
# Codes
# ---------------------------------------------------------------------------------------


async def issue_code(
    session: AsyncSession, pending: PendingRequest, *, profile_id: uuid.UUID, grant_id: uuid.UUID
) -> str:
    """A new code for the grant the leaver just made, in the caller's transaction."""
    code = secrets.token_urlsafe(32)
    await repository.forget_old_codes(session)
    await repository.insert_code(
        session,
        code_hash=_hash(code),
        client_id=pending.client_id,
        redirect_uri=pending.redirect_uri,
        code_challenge=pending.code_challenge,
        profile_id=profile_id,
        grant_id=grant_id,
        ttl=timedelta(seconds=CODE_TTL_SECONDS),
    )
    return code


@dataclass(frozen=True)
class CodeExchange:
    issued: IssuedToken
    profile_id: uuid.UUID
    authorization_details: list[dict[str, Any]]


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def exchange_code(db: Database, tokens: TokenService, request: TokenRequest) -> CodeExchange:
    """``grant_type=authorization_code`` (RFC 6749 §4.1.3 with RFC 7636): a token bound to
    the leaver's grant, or OAuthError. See the module docstring for single use."""
    client = await authenticated_client(db, client_credentials_of(request))
    params = request.params
    code, redirect_uri = params.get("code"), params.get("redirect_uri")
    verifier = params.get("code_verifier")
    if not code or not redirect_uri:
        raise invalid_request("code and redirect_uri are required")
    if not verifier:
        raise invalid_request("code_verifier is required (PKCE)")
    if S.PROFILES_READ not in client.scopes:
        raise unauthorized_client("This client no longer holds the profiles:read scope")
    code_hash = _hash(code)
    failure: OAuthError | None = None
    exchange: CodeExchange | None = None
    async with db.sessionmaker() as session, session.begin():
        # One UPDATE: counted, and the row locked until this exchange commits.
        row = await repository.present_code(
            session, code_hash=code_hash, client_id=client.client_id
        )
        if row is None:
            failure = invalid_grant("The code is not valid for this client")
        elif row.uses > 1:
            # A replay: cut off what the first presentation issued (RFC 6749 §4.1.2).
            if row.token_jti is not None:
                await repository.revoke_jti(
                    session, jti=row.token_jti, expires_at=row.token_expires_at
                )
            failure = invalid_grant("The code was already used; the token it gave is revoked")
        elif not row.fresh:
            failure = invalid_grant("The code has expired")
        elif not hmac.compare_digest(row.redirect_uri.encode(), redirect_uri.encode()):
            failure = invalid_grant("redirect_uri does not match the authorization request")
        elif not _VERIFIER.fullmatch(verifier) or not hmac.compare_digest(
            s256(verifier), row.code_challenge
        ):
            failure = invalid_grant("code_verifier does not match the code_challenge")
        else:
            grant = await repository.live_grant(
                session, grant_id=row.grant_id, organisation_id=client.organisation_id
            )
            if grant is None:
                failure = invalid_grant("The leaver's consent has ended")
            else:
                issued = tokens.issue(
                    subject=str(row.profile_id),
                    client_id=client.client_id,
                    scopes=[S.PROFILES_READ],
                    organisation_id=str(client.organisation_id),
                    grant_id=str(grant.id),
                )
                await repository.remember_token(
                    session,
                    code_hash=code_hash,
                    jti=issued.jti,
                    expires_at=datetime.fromtimestamp(issued.expires_at, UTC),
                )
                exchange = CodeExchange(
                    issued,
                    row.profile_id,
                    [
                        {
                            "type": DETAILS_TYPE,
                            "fields": list(grant.fields),
                            "purpose": grant.purpose,
                            "expires_at": _rfc3339(grant.expires_at),
                            "grant_id": str(grant.id),
                        }
                    ],
                )
        # Leaving the block commits: a burnt code and a revoked token hold whatever the
        # answer is.
    if failure is not None:
        raise failure
    assert exchange is not None
    return exchange


def grant_expiry(pending: PendingRequest) -> datetime | None:
    """The expiry the partner asked for, if any (validated again when the grant is made)."""
    if pending.grant_expires_at is None:
        return None
    return datetime.fromisoformat(pending.grant_expires_at)
