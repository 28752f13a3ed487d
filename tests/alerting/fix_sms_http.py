"""A loopback Twilio-style SMS API for tests: Messages.json with basic auth and idempotency
keys, signed status callbacks, inbound-SMS webhooks, and a switch to be down for a while."""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alerting.sms.http import signature

SID = "AC0123456789"
TOKEN = "test-token-0123"


@dataclass(frozen=True)
class Posted:
    sid: str
    to: str
    sender: str
    body: str
    key: str | None


class FakeSmsApi:
    def __init__(self) -> None:
        self.messages: list[Posted] = []
        self.callbacks: list[tuple[str, int]] = []
        self._by_key: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._down_until = 0.0
        self.posts: list[str | None] = []  # the idempotency key of every accepted POST, repeats too
        self.answer_delay_s = 0.0  # accept a message, then keep the sender waiting this long
        self.refused = 0  # POSTs answered 503 while down
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                api._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeSmsApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_for(self, seconds: float) -> None:
        self._down_until = time.monotonic() + seconds

    def send_inbound(self, webhook_url: str, sender: str, body: str) -> int:
        """A phone's reply, posted to the app's inbound webhook the way the provider would."""
        form = {
            "MessageSid": f"SMin{next(self._ids)}",
            "From": sender,
            "To": "+10690000",
            "Body": body,
        }
        return self._post_signed(webhook_url, form)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Posted]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.messages)

    def _post_signed(self, url: str, form: dict[str, str]) -> int:
        request = urllib.request.Request(
            url,
            data=urllib.parse.urlencode(form).encode(),
            headers={"X-Twilio-Signature": signature(TOKEN, url, form)},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        if time.monotonic() < self._down_until:
            self.refused += 1
            return self._answer(req, 503, {"message": "down for maintenance"})
        expected = f"/2010-04-01/Accounts/{SID}/Messages.json"
        if req.path != expected:
            return self._answer(req, 404, {"message": "not found"})
        auth = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if req.headers.get("Authorization") != f"Basic {auth}":
            return self._answer(req, 401, {"code": 20003, "message": "Authenticate"})
        length = int(req.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(req.rfile.read(length).decode()))
        if not form.get("To") or not form.get("Body"):
            return self._answer(req, 400, {"code": 21604, "message": "To and Body are required"})
        key = req.headers.get("Idempotency-Key")
        with self._lock:
            self.posts.append(key)
            if key and key in self._by_key:
                return self._answer(req, 200, {"sid": self._by_key[key], "status": "queued"})
            sid = f"SM{next(self._ids):08x}"
            if key:
                self._by_key[key] = sid
            self.messages.append(Posted(sid, form["To"], form.get("From", ""), form["Body"], key))
        time.sleep(self.answer_delay_s)
        self._answer(req, 201, {"sid": sid, "status": "queued", "to": form["To"]})
        callback = form.get("StatusCallback")
        if callback:
            threading.Timer(0.05, self._status, (callback, sid, form["To"])).start()
        return None

    def _status(self, url: str, sid: str, to: str) -> None:
        form = {"MessageSid": sid, "MessageStatus": "delivered", "To": to, "AccountSid": SID}
        self.callbacks.append((sid, self._post_signed(url, form)))

    @staticmethod
    def _answer(req: BaseHTTPRequestHandler, code: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        req.send_response(code)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)


@pytest.fixture
def sms_api() -> Iterator[FakeSmsApi]:
    server = FakeSmsApi().start()
    yield server
    server.stop()
