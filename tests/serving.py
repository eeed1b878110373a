"""A real ``onward serve`` and a headless Chromium, for the tests that need them.

Used by the browser tests (docs, pages, the OAuth consent flow) and the server-limit test:
one way to start the server on a free port against the test database, wait until it
answers, and stop it; one set of Chromium flags for this machine's closed network.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import TEST_DATA_DIR

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Without the background-networking flags Chromium keeps trying hosts this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def onward_server(
    database_url: str, env: Mapping[str, str | None] | None = None
) -> Iterator[tuple[str, int]]:
    """``onward serve`` on a free port against ``database_url``; yields (base URL, port).

    ``env`` adds settings to the process's environment (a ``None`` value removes one).
    """
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ONWARD_DATA_DIR": str(TEST_DATA_DIR),
    }
    for key, value in (env or {}).items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=environment,
        cwd=ROOT,
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
        yield base, port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def launch_chromium(playwright: Any) -> Any:
    """Debian's headless Chromium through Playwright, with this machine's flags."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
