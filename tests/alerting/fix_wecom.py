"""A loopback WeCom group robot: /cgi-bin/webhook/send?key=…, checking the message format
as WeCom documents it (msgtype markdown, content a non-empty string of at most 4096 bytes,
nothing else), answering errcode 0, 45009 while throttled, 93000 for an unknown key."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

ROBOT_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


class FakeWeCom:
    def __init__(self) -> None:
        self.keys = {ROBOT_KEY}
        self.posts: list[tuple[str, str]] = []  # (key, markdown content) accepted
        self.refused_format: list[str] = []
        self.throttled = 0  # answer 45009 to this many posts
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                owner.handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urllib.parse.urlsplit(h.path)
        key = dict(urllib.parse.parse_qsl(url.query)).get("key", "")
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        if url.path != "/cgi-bin/webhook/send":
            return self._answer(h, {"errcode": 404, "errmsg": "not found"})
        if key not in self.keys:
            return self._answer(h, {"errcode": 93000, "errmsg": "invalid webhook url"})
        problem = self._check(body)
        if problem is not None:
            with self.lock:
                self.refused_format.append(problem)
            return self._answer(h, {"errcode": 40008, "errmsg": problem})
        with self.lock:
            if self.throttled > 0:
                self.throttled -= 1
                return self._answer(h, {"errcode": 45009, "errmsg": "api freq out of limit"})
            self.posts.append((key, json.loads(body)["markdown"]["content"]))
        return self._answer(h, {"errcode": 0, "errmsg": "ok"})

    @staticmethod
    def _check(body: bytes) -> str | None:
        try:
            message: Any = json.loads(body)
        except json.JSONDecodeError:
            return "not JSON"
        if not isinstance(message, dict) or set(message) != {"msgtype", "markdown"}:
            return "expected exactly msgtype and markdown"
        if message["msgtype"] != "markdown" or not isinstance(message["markdown"], dict):
            return "msgtype must be markdown"
        content = message["markdown"].get("content")
        if not isinstance(content, str) or not content.strip():
            return "content empty"
        if len(content.encode()) > 4096:
            return "content over 4096 bytes"
        return None

    @staticmethod
    def _answer(h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)


@pytest.fixture
def wecom_robot() -> Iterator[FakeWeCom]:
    fake = FakeWeCom()
    try:
        yield fake
    finally:
        fake.stop()
