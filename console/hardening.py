"""The web app's outer guards, as plain ASGI middleware (docs/security.md).

- Bounded request bodies: a declared `Content-Length` over the limit is answered 413 before a
  byte of the body is read; a chunked body is counted as it arrives and cut off at the limit.
  (A 200 MB unauthenticated login body once grew the console from 104 to 820 MB.)
- Security headers on every answer: a strict Content-Security-Policy (scripts, styles and
  connections from our own origin only, no inline script, no framing), X-Frame-Options,
  X-Content-Type-Options, Referrer-Policy; API answers are not cached.
- Validation errors (422) that say where and what, never echoing the submitted value back
  (FastAPI's default repeats the whole body, passwords included).
- `X-Forwarded-For` believed only from the proxies named in `console_trusted_proxies`; the
  servers are run with their own proxy-header handling off (it trusts any local client).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

DEFAULT_BODY_LIMIT = 1024 * 1024
# A grid member's photo: a phone-resized one is ~100-300 kB; 4 MB lets a raw one through.
MAX_PHOTO_BYTES = 4 * 1024 * 1024
# Paths (whole-path patterns) that take bigger bodies: a district's registry import in one
# request, a photo from the field.
BODY_LIMITS: Mapping[str, int] = {
    r"/api/import": 32 * 1024 * 1024,
    r"/api/field/tasks/[^/]+/photos": MAX_PHOTO_BYTES,
}


def content_security_policy(tile_url: str = "") -> str:
    """Our own origin for everything; map tiles (images) from the configured tile server."""
    img = ["'self'", "data:", "blob:"]  # blob: the field app's photo previews (console/web/m/)
    parts = urlsplit(tile_url)
    if parts.scheme in ("http", "https") and parts.netloc:
        img.append(f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}")
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {' '.join(img)}",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(csp: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", csp.encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        # Our own pages only: the field app (/m/) takes photos, hears notes and, with the grid
        # member's consent, reads the phone's position on arrival.
        (b"permissions-policy", b"camera=(self), microphone=(self), geolocation=(self)"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]


class SecurityHeaders:
    """Adds the security headers to every HTTP answer (and no-store to the API's)."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.headers = security_headers(csp)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = str(scope.get("path", "")).startswith("/api/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in {name for name, _ in self.headers}
                ]
                headers += self.headers
                if api and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class BoundedBody:
    """Refuses request bodies over the limit with 413, before they are read into memory."""

    def __init__(
        self,
        app: ASGIApp,
        default: int = DEFAULT_BODY_LIMIT,
        limits: Mapping[str, int] = BODY_LIMITS,
    ) -> None:
        self.app = app
        self.default = default
        self.limits = [(re.compile(pattern), limit) for pattern, limit in limits.items()]

    def limit_for(self, path: str) -> int:
        path = path.rstrip("/")
        return next((n for rule, n in self.limits if rule.fullmatch(path)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(str(scope.get("path", "")))
        declared = _content_length(scope["headers"])
        if declared is not None and declared > limit:
            await _too_large(send, limit)
            return
        seen = 0
        started = refused = False

        async def counted() -> Message:
            # Past the limit: answer 413 here, and tell the app the client has gone.
            nonlocal seen, started, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    if not started:
                        started = True
                        await _too_large(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def noting(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 is the answer
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, noting)
        except Exception:
            if not refused:  # the app's own failure, not the disconnect we made up
                raise


def _content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    for key, value in headers:
        if key.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _size(limit: int) -> str:
    """A limit as people say it: 4 MB, 512 kB, or bytes."""
    for unit, name in ((1024 * 1024, "MB"), (1024, "kB")):
        if limit % unit == 0:
            return f"{limit // unit} {name}"
    return f"{limit} bytes"


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps(
        {"detail": f"请求体超过 {_size(limit)} / request body over {_size(limit)}"},
        ensure_ascii=False,
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status.HTTP_413_CONTENT_TOO_LARGE,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """A 422 that names each bad field and why, without the value that was sent."""
    errors: list[dict[str, Any]] = []
    if isinstance(exc, RequestValidationError):
        for error in exc.errors():
            errors.append(
                {
                    "loc": list(error.get("loc", ())),
                    "msg": str(error.get("msg", "")),
                    "type": str(error.get("type", "")),
                }
            )
    return JSONResponse({"detail": errors}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def harden(app: FastAPI, *, tile_url: str = "", trusted_proxies: list[str] | None = None) -> None:
    """Install every guard on `app` (outermost last: the body bound runs first)."""
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_middleware(SecurityHeaders, csp=content_security_policy(tile_url))
    if trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted_proxies)
    app.add_middleware(BoundedBody)
