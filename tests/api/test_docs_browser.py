"""/docs and /redoc render in a real browser with no network beyond the app itself.

Starts ``onward serve`` on a free port against the test database and drives Debian's
headless Chromium through Playwright. Every request the page makes to any other host is
aborted and recorded: the test fails if there is one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.serving import CHROMIUM, launch_chromium, onward_server

pytestmark = pytest.mark.browser

if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the browser test: install Debian's chromium")
    pytest.skip("chromium is not installed (scripts/ensure-chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[str]:
    with onward_server(database_url) as (base, _):
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


def _open(browser: object, url: str) -> tuple[object, list[str]]:
    page = browser.new_page()  # type: ignore[attr-defined]
    foreign: list[str] = []
    host = urlsplit(url).netloc

    def guard(route: object) -> None:
        request_url = route.request.url  # type: ignore[attr-defined]
        if urlsplit(request_url).netloc != host and not request_url.startswith("data:"):
            foreign.append(request_url)
            route.abort()  # type: ignore[attr-defined]
        else:
            route.continue_()  # type: ignore[attr-defined]

    page.route("**/*", guard)
    page.goto(url)
    return page, foreign


def test_swagger_ui_draws_the_operations(server: str, browser: object) -> None:
    page, foreign = _open(browser, server + "/docs")
    page.wait_for_selector(".opblock", timeout=30_000)  # type: ignore[attr-defined]
    operations = page.locator(".opblock-summary-path").all_inner_texts()  # type: ignore[attr-defined]
    assert "/healthz" in [o.replace("\u200b", "") for o in operations]
    assert page.locator(".information-container .title").inner_text().startswith("Onward API")  # type: ignore[attr-defined]
    assert foreign == []


def test_redoc_draws_the_operations(server: str, browser: object) -> None:
    page, foreign = _open(browser, server + "/redoc")
    page.wait_for_selector("[data-section-id^='operation/']", timeout=30_000)  # type: ignore[attr-defined]
    headings = page.locator("h2").all_inner_texts()  # type: ignore[attr-defined]
    assert any("Liveness" in h for h in headings)
    assert foreign == []
