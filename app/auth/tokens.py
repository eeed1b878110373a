"""Access tokens, consent receipts and the service's keys.

This is the only module that imports ``jose``: swapping the JOSE library means editing
this file alone. Invariants the verifier holds, whatever the library does:

* the header's ``alg`` is on our allow-list (ES256 only), its ``typ`` is ``at+jwt`` and
  its ``kid`` names one of our keys: the key is chosen by us, never by the token;
* ``exp``, ``iat``, ``aud``, ``iss``, ``sub`` and ``jti`` are required; at most 5 s of
  leeway, on ``exp`` and on an ``iat`` in the future;
* a consent receipt (``typ`` JWT) is never an access token, and an access token is never
  a receipt: the same keys sign both, so ``typ`` tells them apart;
* a verified token is cached by its exact text until it expires, so the signature is not
  checked twice; revocation and client state are *not* cached (the caller reads them
  from the database on every request).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwk, jws, jwt
from jose.exceptions import JOSEError

log = logging.getLogger(__name__)

ALGORITHM = "ES256"
ALLOWED_ALGORITHMS = (ALGORITHM,)
TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret
LEEWAY_SECONDS = 5
_CACHE_SIZE = 4096


class InvalidToken(Exception):
    """The token is not one we issued, or no longer valid. Its text is never logged."""


class ExpiredToken(InvalidToken):
    """A token we issued, sound in every other respect, whose ``exp`` has passed: the one
    failure worth telling the client about (it should fetch a new token)."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_pem: str | None  # None for a verify-only (retired) key
    public_pem: str
    public_jwk: dict[str, str]


def _key_from_pem(pem: bytes) -> SigningKey:
    try:
        private = serialization.load_pem_private_key(pem, password=None)
    except ValueError:
        private = None
    if private is not None:
        if not isinstance(private, ec.EllipticCurvePrivateKey) or not isinstance(
            private.curve, ec.SECP256R1
        ):
            raise ValueError("signing key must be an EC P-256 key")
        public = private.public_key()
        private_pem: str | None = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    else:
        loaded = serialization.load_pem_public_key(pem)
        if not isinstance(loaded, ec.EllipticCurvePublicKey):
            raise ValueError("verification key must be an EC P-256 key")
        public, private_pem = loaded, None
    numbers = public.public_numbers()
    x = _b64url(numbers.x.to_bytes(32, "big"))
    y = _b64url(numbers.y.to_bytes(32, "big"))
    # RFC 7638 thumbprint as the kid: stable for the key, whatever file it came from.
    canonical = json.dumps({"crv": "P-256", "kty": "EC", "x": x, "y": y}, separators=(",", ":"))
    kid = _b64url(hashlib.sha256(canonical.encode()).digest())
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    jwk = {"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig", "alg": ALGORITHM}
    return SigningKey(kid, private_pem, public_pem, jwk)


def generate_private_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_or_create_key(key_file: Path | None, data_dir: Path) -> bytes:
    """The configured key file, or a key generated once into the data dir (dev only).

    Several workers may start at once: each writes a candidate to its own temporary file
    and hard-links it into place, which fails if a key is already there, so every worker
    ends up reading the one key that won (never two keys signing for one issuer).
    """
    if key_file is not None:
        return key_file.read_bytes()
    path = data_dir / "keys" / "signing-key.pem"
    if not path.exists():
        log.warning("ONWARD_SIGNING_KEY_FILE is unset: generating a development key in %s", path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".signing-key.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        # Created 0600 from the start: the private key is never readable by others.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(generate_private_pem())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another worker won the race: use its key
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_bytes()


class KeyRing:
    """The current signing key and every key that still verifies (rotation).

    Rotate by making the new key current and passing the old one in ``previous``: tokens
    and receipts it signed keep verifying, and the JWKS keeps publishing it.
    """

    def __init__(self, current_pem: bytes, previous: list[bytes] | None = None) -> None:
        self.current = _key_from_pem(current_pem)
        if self.current.private_pem is None:
            raise ValueError("the current signing key must be a private key")
        # Parsed once: jose would otherwise parse the PEM again for every token it signs
        # (measured: ~15 % of the token endpoint's CPU).
        self._signer = jwk.construct(self.current.private_pem, ALGORITHM)
        self.keys: dict[str, SigningKey] = {self.current.kid: self.current}
        for pem in previous or []:
            key = _key_from_pem(pem)
            self.keys.setdefault(key.kid, key)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [k.public_jwk for k in self.keys.values()]}

    def sign(self, payload: dict[str, Any], *, typ: str) -> str:
        headers = {"typ": typ, "kid": self.current.kid}
        if typ == TOKEN_TYPE:
            return str(jwt.encode(payload, self._signer, algorithm=ALGORITHM, headers=headers))
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        return str(jws.sign(body, self._signer, headers=headers, algorithm=ALGORITHM))


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_in: int
    expires_at: int
    scope: str


class TokenService:
    """Issues and verifies ES256 access tokens (RFC 9068 profile)."""

    def __init__(self, keys: KeyRing, *, issuer: str, audience: str, ttl_seconds: int) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def issue(
        self,
        *,
        subject: str,
        client_id: str,
        scopes: list[str] | tuple[str, ...],
        organisation_id: str | None = None,
        now: int | None = None,
        ttl_seconds: int | None = None,
        grant_id: str | None = None,
    ) -> IssuedToken:
        """A signed access token. ``grant_id`` binds it to one consent grant (API.md §3,
        the authorization code flow): it then discloses that grant's leaves only."""
        issued_at = int(time.time()) if now is None else now
        ttl = self.ttl_seconds if ttl_seconds is None else ttl_seconds
        jti = secrets.token_urlsafe(24)
        scope = " ".join(scopes)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.audience,
            "iat": issued_at,
            "exp": issued_at + ttl,
            "jti": jti,
            "client_id": client_id,
            "scope": scope,
        }
        if organisation_id is not None:
            claims["org"] = organisation_id
        if grant_id is not None:
            claims["grant_id"] = grant_id
        token = self.keys.sign(claims, typ=TOKEN_TYPE)
        return IssuedToken(token, jti, ttl, issued_at + ttl, scope)

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token we issued that has not expired, else :class:`InvalidToken`."""
        now = time.time()
        cached = self._cache.get(token)
        if cached is not None:
            if cached["exp"] + LEEWAY_SECONDS > now:
                return cached
            self._cache.pop(token, None)
        claims = self._verify_uncached(token)
        self._cache[token] = claims
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return claims

    def _verify_uncached(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except JOSEError as exc:
            raise InvalidToken("malformed token") from exc
        # Chosen by us before the library sees the token: `none`, HS256 keyed with our
        # public key and every other algorithm are refused here.
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise InvalidToken("algorithm not allowed")
        if header.get("typ") != TOKEN_TYPE:
            raise InvalidToken("not an access token")
        key = self.keys.keys.get(str(header.get("kid")))
        if key is None:
            raise InvalidToken("unknown key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.public_pem,
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "leeway": LEEWAY_SECONDS,
                    # Required and checked below, after everything else (jose's
                    # require_exp would check it first): "expired" is said only of a
                    # token that is ours and otherwise valid.
                    "verify_exp": False,
                    "require_iat": True,
                    "require_aud": True,
                    "require_iss": True,
                    "require_jti": True,
                    "require_sub": True,
                },
            )
        except (JOSEError, TypeError, ValueError) as exc:
            # TypeError/ValueError: jose's int() on a non-numeric exp/iat of a signed token.
            raise InvalidToken("token rejected") from exc
        if not isinstance(claims.get("jti"), str) or not isinstance(claims.get("scope"), str):
            raise InvalidToken("token rejected")
        if not isinstance(claims.get("exp"), int) or not isinstance(claims["iat"], int):
            raise InvalidToken("token rejected")
        if claims["iat"] > time.time() + LEEWAY_SECONDS:
            raise InvalidToken("issued in the future")
        if claims["exp"] < time.time() - LEEWAY_SECONDS:
            raise ExpiredToken("token expired")
        return claims

    def verify_detached_jws(self, compact: str) -> dict[str, Any]:
        """Verify a receipt (compact JWS) with any of our keys; return its JSON payload.

        An access token is refused here (its ``typ`` is ``at+jwt``): a token is not a receipt.
        """
        try:
            header = jws.get_unverified_header(compact)
            if header.get("alg") not in ALLOWED_ALGORITHMS or header.get("typ") == TOKEN_TYPE:
                raise InvalidToken("not a receipt")
            key = self.keys.keys[str(header.get("kid"))]
            payload = jws.verify(compact, key.public_pem, algorithms=list(ALLOWED_ALGORITHMS))
            result = json.loads(payload)
        except (JOSEError, KeyError, ValueError) as exc:
            raise InvalidToken("receipt rejected") from exc
        if not isinstance(result, dict):
            raise InvalidToken("receipt rejected")
        return result

    def sign_receipt(self, payload: dict[str, Any]) -> str:
        """A compact JWS over the JSON ``payload`` (consent receipts)."""
        return self.keys.sign(payload, typ="JWT")

    def sign_document(self, payload: dict[str, Any], *, typ: str) -> str:
        """A compact JWS over the JSON ``payload`` with an explicit JOSE ``typ`` (the
        access log's signed checkpoints)."""
        return self.keys.sign(payload, typ=typ)

    def verify_document(self, compact: str, *, typ: str) -> dict[str, Any]:
        """Verify a compact JWS of ``typ`` with any of our keys; its JSON payload."""
        try:
            header = jws.get_unverified_header(compact)
        except JOSEError as exc:
            raise InvalidToken("document rejected") from exc
        if header.get("typ") != typ:
            raise InvalidToken("document rejected")
        return self.verify_detached_jws(compact)
