"""An offer's URL becomes an RFC 3986 URI in the Open Referral export, or is left out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.offers.openreferral import to_uri
from app.offers.schemas import URL
from tests.oruk import FORMAT_CHECKER


@pytest.mark.parametrize(
    ("url", "uri"),
    [
        ("https://example.org", "https://example.org"),
        ("https://example.org/a/b?x=1&y=2#top", "https://example.org/a/b?x=1&y=2#top"),
        ("http://example.org/a%20b", "http://example.org/a%20b"),
        ("http://example.org/100%/[x]?q=ü#f#g", "http://example.org/100%25/%5Bx%5D?q=%C3%BC#f%23g"),
        ("https://user:pw@example.org:8443/", "https://user:pw@example.org:8443/"),
        ("https://exa<mple.org/", None),
        ("https://example.org:80a/", None),
        ("https:///path", None),
        (None, None),
    ],
)
def test_to_uri(url: str | None, uri: str | None) -> None:
    assert to_uri(url) == uri


@given(st.from_regex(URL.pattern, fullmatch=True))
def test_any_offer_url_is_a_uri_or_left_out(url: str) -> None:
    uri = to_uri(url)
    if uri is not None:
        assert FORMAT_CHECKER.conforms(uri, "uri")
