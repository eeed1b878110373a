"""Where a webhook may point: ``https`` to public addresses only (SSRF safety).

A webhook URL is chosen by a partner and fetched by our servers, so without rules it is a
way to make Onward call into its own network (the database, the cloud metadata service
at 169.254.169.254, an admin port on loopback). The rules, checked when a webhook is
registered and again before every delivery attempt:

* the scheme is ``https``; no user name or password in the URL; no fragment;
* the host name is resolved, and **every** address it resolves to must be public: not
  loopback, private (RFC 1918, IPv6 ULA ``fc00::/7``), link-local (169.254/16 with the
  metadata address, ``fe80::/10``), CGNAT (100.64/10), multicast, reserved, unspecified
  or documentation ranges, nor such an address inside an IPv6 form (IPv4-mapped
  ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``, Teredo). Numeric
  spellings (``2130706433``, ``0x7f.1``) are resolved by the system like any name and
  checked as the address they are;
* the delivery connects to the address that was checked (the request goes to the IP, with
  the name in ``Host`` and in TLS SNI, and the certificate is verified for the name), so a
  second DNS answer (rebinding) cannot swap in another address between check and use;
* redirects are never followed (a 3xx answer is a failed attempt).

``ONWARD_WEBHOOKS_ALLOW_PRIVATE=true`` (refused in production) lifts the scheme and
address rules, for development and tests against a receiver on the same machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_METADATA = ipaddress.IPv4Address("169.254.169.254")

MAX_URL_LENGTH = 2000
RESOLVE_TIMEOUT_SECONDS = 5.0


class UnsafeURL(ValueError):
    """The URL breaks a rule; the message says which, in plain words, without the URL."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL and the address to connect to."""

    url: str
    scheme: str
    host: str  # the name, for Host and SNI
    port: int
    address: IPAddress

    @property
    def pinned_url(self) -> str:
        """The URL with its host replaced by the checked address (what we connect to)."""
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return parts._replace(netloc=f"{literal}:{self.port}").geturl()

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is a public unicast address (and none hides inside it)."""
    if address == _METADATA:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded: list[ipaddress.IPv4Address] = []
        if address.ipv4_mapped is not None:
            embedded.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            embedded.append(address.sixtofour)
        if address.teredo is not None:
            embedded.extend(address.teredo)
        if address in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if embedded:
            return all(is_public(inner) for inner in embedded)
    elif address in _CGNAT:
        return False
    return bool(
        address.is_global
        and not address.is_multicast
        and not address.is_private
        and not address.is_loopback
        and not address.is_link_local
        and not address.is_reserved
        and not address.is_unspecified
    )


def check_form(url: str, *, allow_private: bool) -> tuple[str, str, int]:
    """The scheme, host and port of a well-formed webhook URL, else :class:`UnsafeURL`."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURL(f"The URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL("The URL is not a valid absolute URL") from exc
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed:
        raise UnsafeURL("The URL must use https")
    if not parts.hostname:
        raise UnsafeURL("The URL must name a host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("The URL must not carry a user name or password")
    if parts.fragment:
        raise UnsafeURL("The URL must not have a fragment")
    if any(c.isspace() or ord(c) < 0x21 for c in url):
        raise UnsafeURL("The URL must not contain spaces or control characters")
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, parts.hostname, port or default


async def resolve(url: str, *, allow_private: bool) -> Target:
    """Check ``url`` and resolve its host; :class:`UnsafeURL` if any rule is broken.

    Every address the name resolves to is checked, not only the first: a name with one
    public and one private address is refused as a whole.
    """
    scheme, host, port = check_form(url, allow_private=allow_private)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError) as exc:
        raise UnsafeURL("The URL's host name does not resolve") from exc
    addresses: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeURL("The URL's host name does not resolve")
    if not allow_private and not all(is_public(a) for a in addresses):
        raise UnsafeURL(
            "The URL must resolve to public internet addresses only (not loopback, "
            "private, link-local, shared or metadata addresses)"
        )
    return Target(url=url, scheme=scheme, host=host, port=port, address=addresses[0])
