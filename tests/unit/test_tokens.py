"""TokenService and KeyRing without HTTP or a database."""

from __future__ import annotations

import stat
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.auth.tokens import (
    InvalidToken,
    KeyRing,
    TokenService,
    generate_private_pem,
    load_or_create_key,
)


def service(keys: KeyRing) -> TokenService:
    return TokenService(
        keys, issuer="https://onward.test", audience="https://onward.test", ttl_seconds=600
    )


def issue(tokens: TokenService, now: int | None = None) -> str:
    return tokens.issue(
        subject="onw_a",
        client_id="onw_a",
        scopes=["profiles:read"],
        organisation_id="7f1c0d3e-7b8a-4a52-9a1e-2f7a5c1e9b10",
        now=now,
    ).token


def test_round_trip_claims() -> None:
    tokens = service(KeyRing(generate_private_pem()))
    issued = tokens.issue(
        subject="onw_a", client_id="onw_a", scopes=["a", "b"], organisation_id="org"
    )
    claims = tokens.verify(issued.token)
    assert claims["scope"] == "a b" == issued.scope
    assert claims["jti"] == issued.jti
    assert claims["exp"] == issued.expires_at
    assert claims["org"] == "org"
    assert issued.expires_in == 600
    assert tokens.verify(issued.token) == claims  # second time from the cache


def test_leeway_is_five_seconds() -> None:
    tokens = service(KeyRing(generate_private_pem()))
    now = int(time.time())
    tokens.verify(issue(tokens, now=now - 603))
    with pytest.raises(InvalidToken):
        tokens.verify(issue(tokens, now=now - 607))


def test_rotation_previous_keys_verify_and_are_published() -> None:
    old_pem, new_pem = generate_private_pem(), generate_private_pem()
    old = service(KeyRing(old_pem))
    # A retired key may be given as its public half only.
    old_public = (
        serialization.load_pem_private_key(old_pem, password=None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    rotated = service(KeyRing(new_pem, [old_public]))
    assert rotated.verify(issue(old))["client_id"] == "onw_a"
    assert [k["kid"] for k in rotated.keys.jwks()["keys"]] == [
        rotated.keys.current.kid,
        old.keys.current.kid,
    ]
    # The old service does not know the new key.
    with pytest.raises(InvalidToken):
        old.verify(issue(rotated))


def test_current_key_must_be_a_private_p256_key() -> None:
    public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError, match="private"):
        KeyRing(public)
    p384 = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="P-256"):
        KeyRing(p384)


def test_receipts_and_tokens_are_not_interchangeable() -> None:
    tokens = service(KeyRing(generate_private_pem()))
    receipt = tokens.sign_receipt({"grant": "g1", "fields": ["contact.phone"]})
    assert tokens.verify_detached_jws(receipt) == {"grant": "g1", "fields": ["contact.phone"]}
    with pytest.raises(InvalidToken):
        tokens.verify(receipt)
    with pytest.raises(InvalidToken):
        tokens.verify_detached_jws(issue(tokens))
    with pytest.raises(InvalidToken):
        tokens.verify_detached_jws("garbage")


def test_generated_key_is_made_once_private_and_shared(tmp_path: Path) -> None:
    results: list[bytes] = []

    def load() -> None:
        results.append(load_or_create_key(None, tmp_path))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1  # every worker reads the one key that won
    path = tmp_path / "keys" / "signing-key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["signing-key.pem"]
    assert load_or_create_key(None, tmp_path) == results[0]


def test_configured_key_file_wins(tmp_path: Path) -> None:
    key_file = tmp_path / "k.pem"
    key_file.write_bytes(generate_private_pem())
    assert load_or_create_key(key_file, tmp_path) == key_file.read_bytes()
    assert not (tmp_path / "keys").exists()


def test_expired_is_said_only_of_a_token_that_is_otherwise_ours() -> None:
    from app.auth.tokens import ExpiredToken

    keys = KeyRing(generate_private_pem())
    tokens = service(keys)
    old = issue(tokens, now=int(time.time()) - 700)
    with pytest.raises(ExpiredToken):
        tokens.verify(old)
    # Expired, and for another audience: merely invalid.
    elsewhere = TokenService(
        keys, issuer="https://onward.test", audience="https://other.test", ttl_seconds=600
    )
    with pytest.raises(InvalidToken) as caught:
        tokens.verify(issue(elsewhere, now=int(time.time()) - 700))
    assert not isinstance(caught.value, ExpiredToken)
    # Within the 5 s leeway it is still good.
    assert tokens.verify(issue(tokens, now=int(time.time()) - 603))["sub"] == "onw_a"
