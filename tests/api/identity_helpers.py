"""Helpers for the identity tests: HTTP Basic, the token endpoint, hand-forged JWTs.

Forged tokens are built here with ``cryptography`` and ``hmac`` directly, never with the
JOSE library the app uses, so the tests do not share the verifier's blind spots.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from app.auth.pins import hash_pin
from app.auth.reference import new_reference
from app.auth.tokens import TokenService
from app.db import Database
from app.models import PinAttempts, Profile

LEAVER_PIN = "urn:onward:grant-type:leaver-pin"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def client_token(
    client: httpx.AsyncClient, client_id: str, secret: str, **form: str
) -> httpx.Response:
    return await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", **form},
        headers=basic(client_id, secret),
    )


def client_from(app: Any, address: str, port: int = 50_000) -> httpx.AsyncClient:
    """A test client whose requests come from ``address`` (the ASGI peer)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, port)),
        base_url="http://testserver",
    )


async def pin_login(client: httpx.AsyncClient, reference: str, pin: str) -> httpx.Response:
    return await client.post(
        "/oauth/token", data={"grant_type": LEAVER_PIN, "reference": reference, "pin": pin}
    )


def valid_claims(tokens: TokenService, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": tokens.issuer,
        "sub": "onw_forged",
        "aud": tokens.audience,
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "client_id": "onw_forged",
        "scope": "admin",
        "org": str(uuid.uuid4()),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def signing_input(header: dict[str, Any], claims: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        return b64url(json.dumps(obj, separators=(",", ":")).encode())

    return f"{part(header)}.{part(claims)}"


def es256_sign(key: ec.EllipticCurvePrivateKey, message: str) -> str:
    r, s = decode_dss_signature(key.sign(message.encode(), ec.ECDSA(hashes.SHA256())))
    return b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def forge_es256(
    key: ec.EllipticCurvePrivateKey, header: dict[str, Any], claims: dict[str, Any]
) -> str:
    message = signing_input(header, claims)
    return f"{message}.{es256_sign(key, message)}"


def forge_hs256(secret: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    message = signing_input(header, claims)
    mac = hmac.new(secret, message.encode(), hashlib.sha256).digest()
    return f"{message}.{b64url(mac)}"


async def make_profile(
    database: Database, pin: str | None = None, data: dict[str, Any] | None = None
) -> tuple[uuid.UUID, str]:
    """A profile straight in the database: (id, reference). Without a PIN, no PIN works."""
    reference = new_reference()
    pin_hash = await hash_pin(pin) if pin is not None else "x"
    async with database.sessionmaker() as session:
        profile = Profile(reference=reference, pin_hash=pin_hash, data=data or {})
        session.add(profile)
        await session.commit()
        return profile.id, reference


async def set_lock_state(
    database: Database, reference: str, *, attempts: int, locked_until: Any
) -> None:
    """Put a reference's lock-out counter (issued or not) in the given state."""
    async with database.sessionmaker() as session:
        await session.execute(
            insert(PinAttempts)
            .values(reference=reference, failed_attempts=attempts, locked_until=locked_until)
            .on_conflict_do_update(
                index_elements=[PinAttempts.reference],
                set_={"failed_attempts": attempts, "locked_until": locked_until},
            )
        )
        await session.commit()


async def clear_lock_state(database: Database, reference: str) -> None:
    async with database.sessionmaker() as session:
        await session.execute(delete(PinAttempts).where(PinAttempts.reference == reference))
        await session.commit()


async def lock_state(database: Database, reference: str) -> tuple[int, Any]:
    """(attempts counted, locked until) of a reference; (0, None) when nothing is kept."""
    async with database.sessionmaker() as session:
        row = (
            await session.execute(
                select(PinAttempts.failed_attempts, PinAttempts.locked_until).where(
                    PinAttempts.reference == reference
                )
            )
        ).one_or_none()
        return (row.failed_attempts, row.locked_until) if row is not None else (0, None)
