"""The client address per-address limits count against (app/auth/client_address.py)."""

from __future__ import annotations

from ipaddress import ip_network
from typing import Any

import pytest

from app.auth.client_address import UNKNOWN, client_address, parse_address
from app.auth.throttle import limit_key
from app.settings import Settings

PROXIES = (ip_network("10.0.0.0/8"), ip_network("2001:db8:ffff::/48"))


def scope(peer: str | None, *forwarded: str) -> dict[str, Any]:
    return {
        "type": "http",
        "client": (peer, 1234) if peer is not None else None,
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # Untrusted peer: its own address, whatever it claims.
        ("192.0.2.1", ["198.51.100.7"], "192.0.2.1"),
        # Trusted proxy: the rightmost hop that is not a trusted proxy.
        ("10.0.0.1", ["198.51.100.7"], "198.51.100.7"),
        ("10.0.0.1", ["203.0.113.5, 198.51.100.7, 10.2.2.2"], "198.51.100.7"),
        ("10.0.0.1", ["203.0.113.5, 198.51.100.7", "10.3.3.3"], "198.51.100.7"),
        # No header, or only proxies in it: the last proxy heard from.
        ("10.0.0.1", [], "10.0.0.1"),
        ("10.0.0.1", ["10.4.4.4"], "10.4.4.4"),
        # Garbage where an address should be stops the walk at the proxy that sent it.
        ("10.0.0.1", ["198.51.100.7, unknown"], "10.0.0.1"),
        ("10.0.0.1", ["198.51.100.7, "], "10.0.0.1"),
        # Ports, brackets, IPv6 and IPv4-mapped IPv6.
        ("10.0.0.1", ["198.51.100.7:4711"], "198.51.100.7"),
        ("10.0.0.1", ["[2001:db8::7]:443"], "2001:db8::7"),
        ("2001:db8:ffff::1", ["2001:db8::7"], "2001:db8::7"),
        ("::ffff:192.0.2.9", [], "192.0.2.9"),
        (None, ["198.51.100.7"], UNKNOWN),
    ],
)
def test_client_address(peer: str | None, forwarded: list[str], expected: str) -> None:
    assert client_address(scope(peer, *forwarded), PROXIES) == expected


def test_no_trusted_proxies_means_the_peer() -> None:
    assert client_address(scope("10.0.0.1", "198.51.100.7"), ()) == "10.0.0.1"


def test_parse_address_refuses_what_is_not_an_address() -> None:
    for text in ("", "unknown", "[::1", "1.2.3", "example.org"):
        assert parse_address(text) is None


def test_ipv6_is_limited_per_64() -> None:
    assert limit_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert limit_key("192.0.2.1") == "192.0.2.1"
    assert limit_key(UNKNOWN) == UNKNOWN


def test_trusted_proxies_setting_reads_commas_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONWARD_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7 ,2001:db8::/32")
    assert [str(n) for n in Settings().trusted_proxies] == [
        "10.0.0.0/8",
        "192.0.2.7/32",
        "2001:db8::/32",
    ]
    monkeypatch.setenv("ONWARD_TRUSTED_PROXIES", '["10.0.0.0/8"]')
    assert [str(n) for n in Settings().trusted_proxies] == ["10.0.0.0/8"]
    monkeypatch.setenv("ONWARD_TRUSTED_PROXIES", "")
    assert Settings().trusted_proxies == []
    monkeypatch.setenv("ONWARD_SIGN_IN_PER_MINUTE", "7")
    assert Settings().sign_in_per_minute == 7
    monkeypatch.delenv("ONWARD_SIGN_IN_PER_MINUTE")
    assert Settings().sign_in_per_minute == 20
    monkeypatch.setenv("ONWARD_TRUSTED_PROXIES", "not-a-network")
    with pytest.raises(ValueError, match="trusted_proxies"):
        Settings()
