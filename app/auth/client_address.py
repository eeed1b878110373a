"""Who is on the other end: the client address that per-address limits count against.

One rule, for the API and the pages alike (API.md §0 "rate limits"):

* the address is the ASGI peer's (``scope["client"]``);
* unless that peer is a trusted proxy (``ONWARD_TRUSTED_PROXIES``): then ``X-Forwarded-For``
  is read from the right, skipping hops that are themselves trusted proxies, and the first
  hop that is not (the *rightmost untrusted* one) is the client. Hops to its left were
  written by the client itself and could say anything, so they are never believed.

A hop that is not an IP address (``unknown``, garbage a misconfigured proxy passed on)
stops the walk: the address is then the trusted proxy that handed it over, which lumps
such clients together rather than letting a forged value pick its own bucket. The answer
is always a normalised IP address text (IPv4-mapped IPv6 as IPv4), or ``unknown`` when the
server does not know its peer (a Unix socket).

Takes the ASGI scope, a plain mapping, so it imports no web framework.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any

UNKNOWN = "unknown"

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address


def parse_address(text: str) -> Address | None:
    """An IP address as a hop or a peer may write it: bare, ``[v6]``, ``[v6]:port`` or
    ``v4:port``. IPv4-mapped IPv6 reads as the IPv4 address. None when it is not one."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:  # IPv4 with a port (an IPv6 address has at least two)
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def _forwarded_hops(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    # Several X-Forwarded-For headers are one list, in order (RFC 9110 §5.3).
    hops: list[str] = []
    for name, value in headers:
        if name.lower() == b"x-forwarded-for":
            hops.extend(hop for hop in value.decode("latin-1").split(","))
    return hops


def client_address(scope: Mapping[str, Any], trusted_proxies: Sequence[Network]) -> str:
    """The client address of an ASGI request (see the module docstring)."""
    peer = scope.get("client")
    address = parse_address(str(peer[0])) if peer else None
    if address is None:
        return UNKNOWN
    if not trusted_proxies or not _trusted(address, trusted_proxies):
        return str(address)
    for hop in reversed(_forwarded_hops(scope.get("headers", ()))):
        forwarded = parse_address(hop)
        if forwarded is None:
            break
        address = forwarded
        if not _trusted(forwarded, trusted_proxies):
            break
    return str(address)
