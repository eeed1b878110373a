"""/docs and /redoc render in a real browser with no network beyond the app itself.

Starts ``onward serve`` on a free port against the test database and drives Debian's
headless Chromium through Playwright. Every request the page makes to any other host is
aborted and recorded: the test fails if there is one.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import TEST_DATA_DIR

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.browser

if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the browser test: install Debian's chromium")
    pytest.skip("chromium is not installed (scripts/ensure-chromium)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "ONWARD_DATA_DIR": str(TEST_DATA_DIR)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            proc.kill()
            err = proc.stderr.read() if proc.stderr else b""
            raise RuntimeError("server did not start: " + err.decode()[-2000:])
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
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
