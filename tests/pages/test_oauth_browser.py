"""The authorization code flow in headless Chromium against a real ``onward serve``:
sign in, tick, allow, land on the partner's local redirect URI (API.md §7).

Starts the server as tests/api/test_docs_browser.py does, with a bootstrap admin so the
test sets itself up over HTTP, and a tiny HTTP server standing in for the partner's
callback. Every request the page makes to any host but those two is aborted and fails
the test.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from app.auth.codes import s256
from tests.api.consent_helpers import PIN, full_document
from tests.serving import CHROMIUM, launch_chromium, onward_server

pytestmark = pytest.mark.browser

if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the browser test: install Debian's chromium")
    pytest.skip("chromium is not installed (scripts/ensure-chromium)", allow_module_level=True)

ADMIN_ID = "onw_browser_admin_" + secrets.token_hex(4)
ADMIN_SECRET = secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[str]:
    env = {
        "ONWARD_BOOTSTRAP_ADMIN_CLIENT_ID": ADMIN_ID,
        "ONWARD_BOOTSTRAP_ADMIN_CLIENT_SECRET": ADMIN_SECRET,
    }
    with onward_server(database_url, env) as (base, _):
        yield base


class _Callback(BaseHTTPRequestHandler):
    received: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).received.append(self.path)
        body = b"<!doctype html><title>Partner</title><p>Thanks</p>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def callback() -> Iterator[str]:
    httpd = HTTPServer(("127.0.0.1", 0), _Callback)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/onward/callback"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _admin_setup(base: str, redirect_uri: str) -> tuple[dict[str, str], str]:
    """A partner client with that redirect URI, and a leaver's reference (PIN = PIN)."""
    with httpx.Client(base_url=base) as api:
        admin = api.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(ADMIN_ID, ADMIN_SECRET)
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {admin}"}
        suffix = secrets.token_hex(3)
        org = api.post(
            "/v1/admin/organisations",
            json={"name": f"Reading Probation {suffix}", "kind": "partner"},
            headers=headers,
        ).json()
        prison = api.post(
            "/v1/admin/organisations",
            json={"name": f"HMP Browser {suffix}", "kind": "establishment"},
            headers=headers,
        ).json()
        made = api.post(
            "/v1/admin/clients",
            json={
                "organisation_id": org["id"],
                "name": "Case system",
                "scopes": ["profiles:read"],
                "redirect_uris": [redirect_uri],
            },
            headers=headers,
        )
        assert made.status_code == 201, made.text
        kiosk = api.post(
            "/v1/admin/clients",
            json={"organisation_id": prison["id"], "name": "Kiosk", "scopes": ["profiles:create"]},
            headers=headers,
        ).json()
        kiosk_token = api.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(kiosk["client_id"], kiosk["client_secret"]),
        ).json()["access_token"]
        profile = api.post(
            "/v1/profiles",
            json={"pin": PIN, "data": full_document()},
            headers={"Authorization": f"Bearer {kiosk_token}"},
        ).json()
    client = made.json()
    return {"id": client["client_id"], "secret": client["client_secret"], "org": org["name"]}, (
        profile["reference"]
    )


def _push(server: str, partner: dict[str, str], callback: str, verifier: str) -> str:
    """A pushed request for three fields (one special-category); the browser's start URL."""
    with httpx.Client(base_url=server) as api:
        pushed = api.post(
            "/oauth/par",
            data={
                "response_type": "code",
                "redirect_uri": callback,
                "state": "browser-state",
                "code_challenge": s256(verifier),
                "code_challenge_method": "S256",
                "authorization_details": json.dumps(
                    [
                        {
                            "type": "onward_profile",
                            "fields": ["contact.phone", "release.expected_at", "needs.health"],
                            "purpose": "pre_release_planning",
                        }
                    ]
                ),
            },
            auth=(partner["id"], partner["secret"]),
        )
        assert pushed.status_code == 201, pushed.text
    return f"{server}/oauth/authorize?" + urlencode(
        {"client_id": partner["id"], "request_uri": pushed.json()["request_uri"]}
    )


def test_sign_in_tick_allow_and_land_on_the_partner(server: str, callback: str) -> None:
    from playwright.sync_api import sync_playwright

    partner, reference = _admin_setup(server, callback)
    verifier = secrets.token_urlsafe(48)
    start = _push(server, partner, callback, verifier)
    allowed_hosts = {urlsplit(server).netloc, urlsplit(callback).netloc}
    foreign: list[str] = []

    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page()

            def guard(route: object) -> None:
                url = route.request.url  # type: ignore[attr-defined]
                if urlsplit(url).netloc not in allowed_hosts and not url.startswith("data:"):
                    foreign.append(url)
                    route.abort()  # type: ignore[attr-defined]
                else:
                    route.continue_()  # type: ignore[attr-defined]

            page.route("**/*", guard)
            page.goto(start)
            assert urlsplit(page.url).path == "/account/sign-in"
            page.fill("#reference", reference)
            page.fill("#pin", PIN)
            page.click("button:has-text('Sign in')")
            page.wait_for_url(f"{server}/oauth/authorize")
            assert partner["org"] in page.inner_text("h1")
            boxes = page.locator("input[name=fields]")
            assert boxes.count() == 3
            for i in range(3):
                assert not boxes.nth(i).is_checked()  # every box starts unticked
            page.check("#field-contact-phone")
            page.check("#field-release-expected_at")
            page.click("button[name=decision][value=allow]")
            page.wait_for_url(callback + "?*", timeout=15_000)
            landed = page.url
        finally:
            browser.close()

    assert foreign == []
    query = parse_qs(urlsplit(landed).query)
    assert query["state"] == ["browser-state"]
    assert query["iss"] == [server]
    assert _Callback.received
    assert any(path.startswith("/onward/callback?code=") for path in _Callback.received)
    with httpx.Client(base_url=server) as api:
        token = api.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": query["code"][0],
                "redirect_uri": callback,
                "code_verifier": verifier,
            },
            auth=(partner["id"], partner["secret"]),
        )
        assert token.status_code == 200, token.text
        body = token.json()
        read = api.get(
            f"/v1/profiles/{body['profile_id']}",
            headers={"Authorization": f"Bearer {body['access_token']}"},
        )
    assert read.status_code == 200, read.text
    assert read.json()["disclosed_fields"] == ["contact.phone", "release.expected_at"]


def test_the_consent_page_passes_axe(server: str, callback: str) -> None:
    """WCAG 2.2 AA on the consent page and on its error state (axe-core, as the other
    pages are checked in test_pages_browser.py)."""
    from playwright.sync_api import sync_playwright

    from tests.pages.test_pages_browser import _axe_violations

    partner, reference = _admin_setup(server, callback)
    start = _push(server, partner, callback, secrets.token_urlsafe(48))
    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            # axe is injected as an inline script, which the page's CSP (rightly) forbids.
            page = browser.new_context(bypass_csp=True).new_page()
            page.goto(start)
            page.fill("#reference", reference)
            page.fill("#pin", PIN)
            page.click("button:has-text('Sign in')")
            page.wait_for_url(f"{server}/oauth/authorize")
            found = {"consent": _axe_violations(page)}
            page.check("#field-needs-health")
            page.click("button[name=decision][value=allow]")
            page.wait_for_selector(".govuk-error-summary")
            found["consent (error)"] = _axe_violations(page)
        finally:
            browser.close()
    assert found == {"consent": [], "consent (error)": []}
