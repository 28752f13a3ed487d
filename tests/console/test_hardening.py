"""The web app's outer guards, through a real uvicorn server as `vigil console run` serves it.

Issue 14 (4, 6 and the low ones): no security headers; a 200 MB unauthenticated login body read
whole (104 -> 820 MB) and echoed back in the 422, which also echoed passwords; X-Forwarded-For
believed from any local client (the login limit per address bypassed, the audit address
spoofed); /docs, /openapi.json and /metrics public in production.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from console.app import create_app
from console.hardening import (
    DEFAULT_BODY_LIMIT,
    MAX_PHOTO_BYTES,
    BoundedBody,
    content_security_policy,
)
from console.serve import ConsoleServer
from tests.console.seed import PASSWORD
from vigil.harness import free_port
from vigil.settings import Settings

pytestmark = [pytest.mark.stack, pytest.mark.security]

SECRET = "hunter2-secret-password"


def _serve(settings: Settings, dsn: str) -> Iterator[str]:
    port = free_port()
    app = create_app(settings.model_copy(update={"database_url": SecretStr(dsn)}))
    server = ConsoleServer(app, port=port)
    server.start()
    try:
        yield server.url.rstrip("/")
    finally:
        server.stop()


@pytest.fixture(scope="module")
def url(console_dsn: str, settings: Settings) -> Iterator[str]:
    yield from _serve(settings, console_dsn)


@pytest.fixture(scope="module")
def production_url(console_dsn: str, settings: Settings) -> Iterator[str]:
    real = settings.model_copy(
        update={
            "env": "production",
            "mqtt_password": SecretStr("a-real-broker-password"),
            "secret_key": SecretStr("a-real-secret-key-of-some-length"),
        }
    )
    yield from _serve(real, console_dsn)


def test_every_answer_carries_the_security_headers(url: str) -> None:
    for path in ("/", "/js/map.js", "/api/auth/me", "/api/health", "/nowhere"):
        headers = httpx.get(url + path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp, path
        assert "'unsafe-inline'" not in csp
        assert "'unsafe-eval'" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
    assert httpx.get(url + "/api/auth/me").headers["cache-control"] == "no-store"


def test_the_policy_lets_the_configured_map_tiles_in() -> None:
    csp = content_security_policy("https://{s}.tile.example.org/{z}/{x}/{y}.png")
    assert "img-src 'self' data: blob: https://*.tile.example.org" in csp
    assert "javascript:" not in content_security_policy("javascript:alert(1)")


def _raw_post(url: str, path: str, declared: int, sent: bytes) -> bytes:
    """A POST that declares `declared` bytes and sends only `sent`: the answer must not wait."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared}\r\n\r\n".encode()
            + sent
        )
        return sock.recv(4096)


def test_a_huge_body_is_refused_before_it_is_read(url: str) -> None:
    # 200 MB declared, 1 KiB sent: a 413 at once, not a server reading 200 MB.
    answer = _raw_post(url, "/api/auth/login", 200 * 1024 * 1024, b"{" + b" " * 1023)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it comes
        yield b'{"username": "op", "password": "'
        for _ in range(300):
            yield b"x" * 8192
        yield b'"}'

    response = httpx.post(url + "/api/auth/login", content=chunks(), timeout=30)
    assert response.status_code == 413
    ok = httpx.post(url + "/api/auth/login", json={"username": "op", "password": PASSWORD})
    assert ok.status_code == 200


def test_bigger_bodies_only_where_the_route_takes_them() -> None:
    guard = BoundedBody(app=None)  # type: ignore[arg-type]  # only its limits are read
    assert guard.limit_for("/api/field/tasks/17/photos") == MAX_PHOTO_BYTES
    assert guard.limit_for("/api/import/") == 32 * 1024 * 1024
    # A path that merely starts like a big one gets the default.
    assert guard.limit_for("/api/field/tasks/17/photos/x") == DEFAULT_BODY_LIMIT
    assert guard.limit_for("/api/importer") == DEFAULT_BODY_LIMIT
    assert guard.limit_for("/api/auth/login") == DEFAULT_BODY_LIMIT


def test_a_422_names_the_field_but_never_echoes_what_was_sent(url: str) -> None:
    for body in (
        {"username": "op" * 500, "password": SECRET},
        {"username": ["op"], "password": SECRET},
        {"password": SECRET},
    ):
        response = httpx.post(url + "/api/auth/login", json=body)
        assert response.status_code == 422
        assert SECRET not in response.text
        assert "opop" not in response.text
        assert all("input" not in e for e in response.json()["detail"])
        assert response.json()["detail"][0]["loc"][0] == "body"


def test_x_forwarded_for_is_not_believed_from_an_unlisted_peer(url: str, console_dsn: str) -> None:
    for n in range(25):  # past the per-address limit (20), each with another claimed address
        httpx.post(
            url + "/api/auth/login",
            json={"username": f"nobody{n}", "password": "wrong-password-x"},
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        )
    refused = httpx.post(
        url + "/api/auth/login",
        json={"username": "sup", "password": PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.7"},
    )
    assert refused.status_code == 429, "a claimed address reset the per-address limit"
    with psycopg.connect(console_dsn) as conn:
        spoofed = conn.execute(
            "select count(*) from audit_log where host(remote_addr) like '203.0.113.%%'"
        ).fetchone()
    assert spoofed == (0,)


def test_trusted_proxies_are_believed(console_dsn: str, settings: Settings) -> None:
    proxied = settings.model_copy(update={"console_trusted_proxies": ["127.0.0.1"]})
    for base in _serve(proxied, console_dsn):
        for n in range(21):
            httpx.post(
                base + "/api/auth/login",
                json={"username": f"x{n}", "password": "wrong-password-x"},
                headers={"X-Forwarded-For": "192.0.2.1"},
            )
        other = httpx.post(
            base + "/api/auth/login",
            json={"username": "admin", "password": PASSWORD},
            headers={"X-Forwarded-For": "192.0.2.2"},
        )
        assert other.status_code == 200, "the proxy's clients are told apart"


def test_production_keeps_the_developer_pages_and_metrics_private(
    production_url: str, url: str
) -> None:
    for path in ("/docs", "/redoc", "/openapi.json", "/metrics"):
        assert httpx.get(production_url + path).status_code == 404, path
        assert httpx.get(url + path).status_code == 200, path  # the demo keeps them
    assert httpx.get(production_url + "/healthz").status_code in (200, 503)
