"""The HTTP/1.1 protocol Grace serves with: uvicorn's httptools protocol with two guards.

- A header timeout: a request's line and headers must arrive within ``header_timeout``
  seconds of its first byte (or of the connection), else 408 and the connection is closed
  (after a short linger, so that the 408 is read rather than lost to a reset), so a client
  trickling a byte every few seconds cannot hold a connection forever.
- Errors found while parsing (invalid HTTP, a request line longer than ``max_url_bytes``)
  are answered as problem+json like every other error, not as plain text.

The body's own timeout is the ASGI middleware's (:class:`grace.api.app.BodyGuard`).  The
limits are class attributes set once per process by :func:`configure`, before serving.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["GuardedHttpProtocol", "configure"]


def _problem(status: int, title: str, detail: str) -> bytes:
    body = json.dumps(
        {
            "type": f"urn:grace:problem:http-{status}",
            "title": title,
            "status": status,
            "detail": detail,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {title}\r\n"
        "content-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


# After a refusal the connection lingers this long, reading and dropping what the client
# still sends: closing at once with unread bytes makes the kernel answer with a reset,
# which can discard the refusal before the client reads it.
LINGER_SECONDS = 2.0


class GuardedHttpProtocol(HttpToolsProtocol):
    header_timeout: float = 15.0
    max_url_bytes: int = 8 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_header_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.max_url_bytes:
            self._refuse(414, "URI Too Long", f"the URL is longer than {self.max_url_bytes} bytes")

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "Bad Request", f"the request is not valid HTTP/1.1 ({msg.rstrip('.')})")

    def _start_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # between headers and response: the app owns this request now
        self._refuse(
            408,
            "Request Timeout",
            f"the request line and headers did not arrive within {self.header_timeout:g}s",
        )

    def _refuse(self, status: int, title: str, detail: str) -> None:
        self._stop_header_timer()
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self.transport.write(_problem(status, title, detail))
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()


def configure(*, header_timeout: float, max_url_bytes: int = 8 * 1024) -> None:
    """Set this process's limits (each uvicorn worker calls it before it serves)."""
    GuardedHttpProtocol.header_timeout = header_timeout
    GuardedHttpProtocol.max_url_bytes = max_url_bytes
