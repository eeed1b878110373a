"""How ``onward serve`` runs uvicorn: the HTTP/1.1 parser, with request heads bounded.

API.md §0: request headers over 64 KiB in total are refused without slowing other
requests. That has to happen in the server, before the ASGI app exists for the request:

* uvicorn's default parser, httptools (llhttp), has no limit on a request's head, and it
  accumulates a header value that arrives over many reads by concatenation. A 48 MiB
  header is read whole and costs seconds of the event loop's time, stalling every other
  connection of the worker. :class:`BoundedHttpToolsProtocol` keeps httptools (the fast
  parser: the partner read is the hot path) and counts the bytes of each request's head
  as they arrive, *before* handing them to the parser; past :data:`MAX_HEAD_BYTES` it
  answers ``431 Request Header Fields Too Large`` and closes the connection, having
  parsed at most one read (256 KiB) beyond the limit.
* Why not h11 with ``h11_max_incomplete_event_size=65536``: it bounds the head just as
  well (a 400 and a close), but h11 is pure Python and costs far more CPU per request than
  httptools on the hot path. httptools is part of ``uvicorn[standard]``, a dependency, so
  this module imports it unconditionally: a missing parser fails loudly at start-up rather
  than silently serving without the bound.

The count covers the request line and every header line up to the blank line ending the
head. A pipelined request whose head shares a read with the end of the previous request
is counted from its next read on (at most one read more; never unbounded).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# 64 KiB: request line plus all header lines (the blank line ending the head included).
MAX_HEAD_BYTES = 64 * 1024
_END_OF_HEAD = b"\r\n\r\n"

_REFUSAL_BODY = b"Request headers are larger than the 64 KiB limit.\n"
_REFUSAL = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: " + str(len(_REFUSAL_BODY)).encode() + b"\r\n"
    b"cache-control: no-store\r\n"
    b"connection: close\r\n\r\n" + _REFUSAL_BODY
)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with each request's head bounded to 64 KiB."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # waiting for (the rest of) a request line and headers
        self._head_bytes = 0
        self._tail = b""  # the last 3 bytes seen in the head: "\r\n\r\n" may span reads

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            seen = self._tail + data
            end = seen.find(_END_OF_HEAD)
            head_part = len(data) if end < 0 else end + len(_END_OF_HEAD) - len(self._tail)
            self._head_bytes += head_part
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse()
                return
            if end < 0:
                self._tail = seen[-3:]
            else:
                self._in_head = False
                self._tail = b""
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._tail = b""
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        # The next bytes on this connection begin the next request's head.
        self._in_head = True
        self._head_bytes = 0
        self._tail = b""
        super().on_message_complete()

    def _refuse(self) -> None:
        if self.transport.is_closing():
            return
        # Only when no response of an earlier (pipelined) request is under way on this
        # connection may a status line be written; otherwise closing is the answer.
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_REFUSAL)
        self.transport.close()


# ``uvicorn.run(http=...)``: an import string, so every worker process loads the class.
UVICORN_HTTP = "app.server:BoundedHttpToolsProtocol"
