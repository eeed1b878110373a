"""A real HTTP receiver on 127.0.0.1 for the webhook tests, and small helpers."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from fastapi import FastAPI

from app.webhooks.delivery import deliver_due
from tests.support import Actor


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Receiver:
    """Answers each POST with the next queued status (then ``default``), recording it."""

    server: ThreadingHTTPServer
    statuses: deque[int] = field(default_factory=deque)
    default: int = 204
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def answer(self, path: str, headers: dict[str, str], body: str) -> int:
        with self.lock:
            self.received.append(Received(path, headers, body))
            return self.statuses.popleft() if self.statuses else self.default


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def do_POST(self) -> None:
        receiver: Receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
        if receiver.delay:
            time.sleep(receiver.delay)
        status = receiver.answer(self.path, dict(self.headers.items()), body)
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", receiver.url.replace("/hook", "/elsewhere"))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def start_receiver() -> Receiver:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    receiver = Receiver(server)
    server.receiver = receiver  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver


async def register(
    client: httpx.AsyncClient, actor: Actor, url: str, events: list[str]
) -> dict[str, Any]:
    r = await client.post(
        "/v1/webhooks", json={"url": url, "events": events}, headers=actor.headers
    )
    assert r.status_code == 201, r.text
    made: dict[str, Any] = r.json()
    return made


async def deliver(app: FastAPI, **kwargs: Any) -> int:
    """One round of the delivery worker, run by hand (tests have no background tasks)."""
    return await deliver_due(app.state.db.sessionmaker, allow_private=True, **kwargs)
