"""The leaver's pages in a real browser (API.md §8): axe-core finds no WCAG 2.2 AA
violation on any page, the pages work with JavaScript off (sign in → stop sharing), nothing
scrolls sideways at 320 px, and nothing is loaded from another host.

Starts ``onward serve`` on a free port against the test database (like
``tests/api/test_docs_browser.py``) and drives Debian's headless Chromium through
Playwright. The server runs on ``http://127.0.0.1``: the ``__Host-`` session cookie is
Secure, and Chromium accepts Secure cookies from 127.0.0.1 and localhost, which the
sign-in in every test here proves.

``ONWARD_SCREENSHOTS=1`` also writes screenshots of the main pages to docs/screenshots/.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api.consent_helpers import PIN, full_document
from tests.api.offers_helpers import offer_body
from tests.serving import CHROMIUM, launch_chromium, onward_server

ROOT = Path(__file__).resolve().parents[2]
AXE = (ROOT / "tests" / "vendor" / "axe.min.js").read_text()
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]

pytestmark = pytest.mark.browser

if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the browser test: install Debian's chromium")
    pytest.skip("chromium is not installed (scripts/ensure-chromium)", allow_module_level=True)


@dataclass
class World:
    base: str
    reference: str
    profile_id: str
    offer_id: str
    partner_name: str
    partner_headers: dict[str, str]
    leaver_headers: dict[str, str]


@pytest.fixture(scope="module")
def world(database_url: str) -> Iterator[World]:
    admin_id, admin_secret = f"admin-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex * 2
    env = {
        "ONWARD_BOOTSTRAP_ADMIN_CLIENT_ID": admin_id,
        "ONWARD_BOOTSTRAP_ADMIN_CLIENT_SECRET": admin_secret,
    }
    with onward_server(database_url, env) as (base, _):
        yield _populate(base, admin_id, admin_secret)


def _token(http: httpx.Client, client_id: str, secret: str) -> dict[str, str]:
    r = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _client(
    http: httpx.Client, admin: dict[str, str], name: str, kind: str, scopes: list[str]
) -> dict[str, str]:
    org = http.post("/v1/admin/organisations", json={"name": name, "kind": kind}, headers=admin)
    assert org.status_code == 201, org.text
    made = http.post(
        "/v1/admin/clients",
        json={"organisation_id": org.json()["id"], "name": name, "scopes": scopes},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    return _token(http, made.json()["client_id"], made.json()["client_secret"])


def _populate(base: str, admin_id: str, admin_secret: str) -> World:
    tag = uuid.uuid4().hex[:6]
    with httpx.Client(base_url=base, timeout=30) as http:
        admin = _token(http, admin_id, admin_secret)
        kiosk = _client(http, admin, f"HMP Bullingdon {tag}", "establishment", ["profiles:create"])
        partner_name = f"Reading Probation {tag}"
        partner = _client(http, admin, partner_name, "partner", ["profiles:read"])
        provider = _client(
            http, admin, f"Thames Housing {tag}", "provider", ["offers:write", "referrals:read"]
        )
        document = full_document()
        document["identity"]["given_name"] = "Jo"
        created = http.post("/v1/profiles", json={"pin": PIN, "data": document}, headers=kiosk)
        assert created.status_code == 201, created.text
        reference, profile_id = created.json()["reference"], created.json()["id"]
        offer = http.post("/v1/offers", json=offer_body(), headers=provider)
        assert offer.status_code == 201, offer.text
        leaver = http.post(
            "/oauth/token",
            data={
                "grant_type": "urn:onward:grant-type:leaver-pin",
                "reference": reference,
                "pin": PIN,
            },
        )
        assert leaver.status_code == 200, leaver.text
        leaver_headers = {"Authorization": f"Bearer {leaver.json()['access_token']}"}
        partner_org = http.get("/v1/organisations", params={"q": partner_name}).json()
        partner_id = (
            partner_org["items"][0]["id"] if "items" in partner_org else partner_org[0]["id"]
        )
        granted = http.post(
            "/v1/me/consents",
            json={
                "organisation_id": partner_id,
                "fields": ["contact.phone", "release.expected_at"],
                "purpose": "support_delivery",
            },
            headers=leaver_headers,
        )
        assert granted.status_code == 201, granted.text
        # One read, so "who has looked" has a sentence.
        assert http.get(f"/v1/profiles/{profile_id}", headers=partner).status_code == 200
    return World(
        base, reference, profile_id, offer.json()["id"], partner_name, partner, leaver_headers
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


def _context(browser: Any, world: World, **options: Any) -> tuple[Any, list[str]]:
    context = browser.new_context(**options)
    foreign: list[str] = []
    host = urlsplit(world.base).netloc

    def guard(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).netloc != host and not url.startswith("data:"):
            foreign.append(url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", guard)
    return context, foreign


def _sign_in(page: Any, world: World, helper: tuple[str, str] | None = None) -> None:
    page.goto(world.base + "/account/sign-in")
    page.fill("#reference", world.reference)
    page.fill("#pin", PIN)
    if helper is not None:
        page.check("#helped")
        page.fill("#helper_name", helper[0])
        page.fill("#helper_organisation", helper[1])
    page.click("button:has-text('Sign in')")
    page.wait_for_url(world.base + "/account")


def _axe_violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(content=AXE)
    result: dict[str, Any] = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})",
        WCAG_22_AA,
    )
    # axe really ran its rules on this page (a script blocked by CSP would find nothing).
    assert len(result["passes"]) > 10, page.url
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]


def _pages(world: World) -> list[str]:
    return [
        "/account",
        "/account/sharing",
        "/account/who-has-looked",
        "/account/support",
        f"/account/support/{world.offer_id}",
        "/account/referrals",
        "/account/progress",
        "/account/profile",
        "/account/profile/contact",
        "/account/profile/preferences",
        "/account/profile/story",
        "/account/profile/identity",
        "/account/profile/key_worker",
        "/account/download",
    ]


def test_every_page_passes_axe(browser: Any, world: World) -> None:
    # axe is injected as an inline script, which the pages' CSP (rightly) forbids.
    context, foreign = _context(browser, world, bypass_csp=True)
    page = context.new_page()
    found: dict[str, Any] = {}
    page.goto(world.base + "/account/sign-in")
    found["/account/sign-in"] = _axe_violations(page)
    # The sign-in page with its error summary.
    page.fill("#reference", world.reference)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector(".govuk-error-summary")
    found["/account/sign-in (error)"] = _axe_violations(page)
    _sign_in(page, world)
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["__Host-onward_session"]["secure"] is True
    assert cookies["__Host-onward_session"]["httpOnly"] is True
    for path in _pages(world):
        page.goto(world.base + path)
        found[path] = _axe_violations(page)
    # A form shown again with its errors.
    page.goto(world.base + "/account/profile/contact")
    page.fill("#phone", "call me")
    page.click("button:has-text('Save')")
    page.wait_for_selector(".govuk-error-summary")
    found["/account/profile/contact (error)"] = _axe_violations(page)
    page.goto(world.base + "/account/progress")
    page.click("button:has-text('Save')")
    page.wait_for_selector(".govuk-error-summary")
    found["/account/progress (error)"] = _axe_violations(page)
    context.close()
    assert {path: v for path, v in found.items() if v} == {}
    assert foreign == []


def test_javascript_off_sign_in_then_stop_sharing(browser: Any, world: World) -> None:
    context, foreign = _context(browser, world, java_script_enabled=False)
    page = context.new_page()
    _sign_in(page, world)
    assert (
        httpx.get(
            f"{world.base}/v1/profiles/{world.profile_id}", headers=world.partner_headers
        ).status_code
        == 200
    )
    page.goto(world.base + "/account/sharing")
    page.click(f"button:has-text('Stop sharing with {world.partner_name}')")
    page.wait_for_url(world.base + "/account/sharing?stopped=1")
    assert "You stopped sharing" in page.content()
    # Committed before the redirect: the partner's very next read finds nothing.
    assert (
        httpx.get(
            f"{world.base}/v1/profiles/{world.profile_id}", headers=world.partner_headers
        ).status_code
        == 404
    )
    page.click("button:has-text('Sign out')")
    # The click starts a navigation: wait for the answer before reading the page.
    page.wait_for_selector("text=You are signed out")
    assert "You are signed out" in page.content()
    page.goto(world.base + "/account")
    assert page.url.startswith(world.base + "/account/sign-in")
    context.close()
    assert foreign == []


def test_nothing_scrolls_sideways_at_320_px(browser: Any, world: World) -> None:
    context, foreign = _context(browser, world, viewport={"width": 320, "height": 640})
    page = context.new_page()
    page.goto(world.base + "/account/sign-in")
    wide: dict[str, int] = {}

    def check(path: str) -> None:
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 320:
            wide[path] = width

    check("/account/sign-in")
    _sign_in(page, world)
    for path in _pages(world):
        page.goto(world.base + path)
        check(path)
    context.close()
    assert wide == {}
    assert foreign == []


def test_screenshots(browser: Any, world: World) -> None:
    if not os.environ.get("ONWARD_SCREENSHOTS"):
        pytest.skip("set ONWARD_SCREENSHOTS=1 to write docs/screenshots/")
    out = ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    context, _ = _context(browser, world, viewport={"width": 1000, "height": 900})
    page = context.new_page()
    page.goto(world.base + "/account/sign-in")
    page.screenshot(path=str(out / "sign-in.png"), full_page=True)
    _sign_in(page, world, helper=("Sam Patel", "Reading Probation"))
    for name, path in (
        ("start", "/account"),
        ("sharing", "/account/sharing"),
        ("who-has-looked", "/account/who-has-looked"),
        ("support", "/account/support"),
        ("offer", f"/account/support/{world.offer_id}"),
        ("progress", "/account/progress"),
        ("profile", "/account/profile"),
    ):
        page.goto(world.base + path)
        page.screenshot(path=str(out / f"{name}.png"), full_page=True)
    context.close()
