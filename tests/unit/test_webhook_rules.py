"""Pure webhook rules: public addresses, the retry schedule, signing, pinning, settings."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook

from app.settings import Settings
from app.webhooks.delivery import GIVE_UP_AFTER, next_attempt_at
from app.webhooks.signing import new_secret, sign
from app.webhooks.urls import Target, UnsafeURL, check_form, is_public


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4009:81f::200e"],
)
def test_public_addresses(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.31.255.255",
        "192.168.0.1",
        "100.64.0.1",
        "100.127.255.254",
        "169.254.169.254",
        "169.254.0.1",
        "0.0.0.0",
        "224.0.0.251",
        "255.255.255.255",
        "192.0.2.1",  # documentation
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2001:db8::1",
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


def test_form_rules() -> None:
    assert check_form("https://hooks.example.org/x", allow_private=False) == (
        "https",
        "hooks.example.org",
        443,
    )
    assert check_form("http://127.0.0.1:9000/x", allow_private=True)[2] == 9000
    for url in ("http://hooks.example.org/", "https://a@hooks.example.org/", "https:///x"):
        with pytest.raises(UnsafeURL):
            check_form(url, allow_private=False)
    with pytest.raises(UnsafeURL):
        check_form("https://hooks.example.org/#frag", allow_private=False)


def test_the_connection_is_pinned_to_the_checked_address() -> None:
    target = Target(
        url="https://hooks.example.org/a/b?c=1",
        scheme="https",
        host="hooks.example.org",
        port=443,
        address=ipaddress.ip_address("93.184.215.14"),
    )
    assert target.pinned_url == "https://93.184.215.14:443/a/b?c=1"
    assert target.host_header == "hooks.example.org"
    v6 = Target(
        url="https://hooks.example.org:8443/",
        scheme="https",
        host="hooks.example.org",
        port=8443,
        address=ipaddress.ip_address("2606:4700::1"),
    )
    assert v6.pinned_url == "https://[2606:4700::1]:8443/"
    assert v6.host_header == "hooks.example.org:8443"


def test_retry_delays_grow_and_stop_after_a_day() -> None:
    created = datetime(2026, 12, 1, tzinfo=UTC)
    now, attempts, delays = created, 0, []
    while True:
        attempts += 1
        due = next_attempt_at(created, attempts, now)
        if due is None:
            break
        delays.append(due - now)
        now = due
    assert delays == sorted(delays)
    assert delays[0] == timedelta(seconds=5)
    assert delays[:3] == [timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30)]
    assert now - created <= GIVE_UP_AFTER
    assert now - created > GIVE_UP_AFTER / 2
    assert attempts == 7


def test_signatures_verify_with_the_standardwebhooks_library() -> None:
    secret = new_secret()
    timestamp = int(datetime.now(UTC).timestamp())
    body = '{"type":"profile.shared","timestamp":"2026-12-01T00:00:00Z","data":{}}'
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, "msg_1", timestamp, body),
    }
    assert Webhook(secret).verify(body, headers)["type"] == "profile.shared"
    assert new_secret() != secret


def test_production_refuses_allow_private() -> None:
    with pytest.raises(ValidationError, match="ONWARD_WEBHOOKS_ALLOW_PRIVATE"):
        Settings(
            environment="production",
            database_url="postgresql+asyncpg://u:p@db/onward",
            signing_key_file="/keys/signing.pem",
            issuer="https://onward.example.org",
            webhooks_allow_private=True,
        )
