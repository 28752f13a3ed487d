"""A loopback webhook subscriber: checks each delivery's HMAC-SHA256 signature on its own
(not with Vigil's code), records deliveries by id, and can be down (503) for a while."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

SECRET = "whsec-0123456789abcdef"


class Receiver:
    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.received: list[dict[str, Any]] = []  # every accepted POST, repeats included
        self.bad_signatures = 0
        self.refused_while_down = 0
        self.down_until: float = 0.0
        self.clock: Callable[[], float] = lambda: 0.0  # the test's (simulated) time
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                owner.handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/vigil"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _valid(self, header: str, body: bytes) -> bool:
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        if "t" not in parts or "v1" not in parts:
            return False
        expected = hmac.new(
            self.secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(expected, parts["v1"])

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        if self.clock() < self.down_until:
            with self.lock:
                self.refused_while_down += 1
            return self._answer(h, 503)
        if not self._valid(h.headers.get("X-Vigil-Signature", ""), body):
            with self.lock:
                self.bad_signatures += 1
            return self._answer(h, 401)
        document = json.loads(body)
        if document.get("delivery_id") != h.headers.get("X-Vigil-Delivery"):
            return self._answer(h, 400)
        with self.lock:
            self.received.append(document)
        return self._answer(h, 204)

    @staticmethod
    def _answer(h: BaseHTTPRequestHandler, status: int) -> None:
        h.send_response(status)
        h.send_header("Content-Length", "0")
        h.end_headers()

    def delivery_ids(self) -> list[str]:
        with self.lock:
            return [d["delivery_id"] for d in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    fake = Receiver()
    try:
        yield fake
    finally:
        fake.stop()
