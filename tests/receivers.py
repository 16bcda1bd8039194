"""A real webhook receiver on loopback for the delivery tests: an HTTP server in a thread
that verifies each request's Standard Webhooks signature (with the ``standardwebhooks``
package) and keeps what it received; ``behaviour`` decides each answer."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    at: float
    status: int = 0  # 0: the connection was closed unanswered
    path: str = ""

    @property
    def cloud_event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


#: What to answer: (status, extra headers) or (status, extra headers, body), or None to close
#: the connection unanswered.
Behaviour = Callable[
    [Received], tuple[int, dict[str, str]] | tuple[int, dict[str, str], bytes] | None
]


def always(status: int = 204, body: bytes = b"") -> Behaviour:
    return lambda _r: (status, {}, body)


@dataclass
class WebhookReceiver:
    secret: str | None = None
    behaviour: Behaviour = field(default_factory=always)
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/hook"

    def accepted(self) -> list[Received]:
        """What it answered 2xx to."""
        with self._lock:
            return [r for r in self.received if r.status // 100 == 2]

    def accepted_ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.accepted()]

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = False
                if receiver.secret is not None:
                    try:
                        Webhook(receiver.secret).verify(body, headers)
                        verified = True
                    except WebhookVerificationError:
                        verified = False
                got = Received(headers, body, verified, time.monotonic(), path=self.path)
                answer = receiver.behaviour(got)
                if answer is not None:
                    got.status = answer[0]
                with receiver._lock:
                    receiver.received.append(got)
                if answer is None:
                    self.close_connection = True
                    self.connection.close()
                    return
                status, extra = answer[0], answer[1]
                content = answer[2] if len(answer) > 2 else b""
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

        server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        server.daemon_threads = True
        self._port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextmanager
def webhook_receiver(
    secret: str | None = None, behaviour: Behaviour | None = None
) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(secret=secret, behaviour=behaviour or always())
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
