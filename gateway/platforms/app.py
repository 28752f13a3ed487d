"""The HTTP side: one endpoint per platform account, answered only once the push is accepted.

Plain ASGI (served by uvicorn) so the body size is bounded while it is read and nothing is
parsed before the sender is authenticated where the platform allows it:

    POST /ctwing/{account}?token=…        CTWing subscription push (token in the URL)
    GET  /onenet/{account}?msg&nonce&signature   OneNET's URL check: echoes msg
    POST /onenet/{account}                OneNET push (signed; AES-CBC when configured)
    GET  /healthz                         counters, as JSON

Answers: 200 once the push's events are acknowledged by Vigil's broker (or the push is a
retry, or kept as a dead letter: retrying cannot help); 401 bad token or signature (logged with
the sender's address, never stored); 400 not a push of the documented formats; 413 body too
large; 503 not acknowledged in time (the platform retries, and the retry is never read twice).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from gateway.platforms.auth import AuthError, check_token
from gateway.platforms.pushes import (
    MalformedError,
    OneNetAccount,
    Push,
    Source,
    parse_ctwing,
    parse_onenet,
    url_check,
)
from gateway.platforms.receiver import Outcome, Receiver, Result, Sink

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

Reply = tuple[int, bytes, bytes]  # status, body, content type
TEXT = b"text/plain; charset=utf-8"
MAX_BODY = 64 * 1024  # a push is a few hundred bytes; OneNET legacy batches a few KiB


@dataclass(frozen=True)
class Account:
    name: str
    source: Source
    token: str
    aes_key: bytes | None = None
    allow_from: frozenset[str] = frozenset()  # source addresses; empty: any


class BodyTooLargeError(Exception):
    pass


class PlatformApp:
    def __init__(
        self,
        receiver: Receiver,
        bridge: Sink,
        accounts: list[Account],
        *,
        max_body: int = MAX_BODY,
        ack_timeout_s: float = 5.0,
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        self.receiver = receiver
        self.bridge = bridge
        self.accounts = {(a.source.value, a.name): a for a in accounts}
        self.max_body = max_body
        self.ack_timeout_s = ack_timeout_s
        self.ready = ready  # the registry is loaded: until then every push is answered 503
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self.refused: dict[str, int] = {}

    # ---- sending -------------------------------------------------------------------------
    def send(self, outcome: Outcome, key: str) -> asyncio.Future[Any]:
        """Hand staged events and readings to the bridge; the future is done once accepted."""
        loop = asyncio.get_running_loop()
        if outcome.readings:
            self.bridge.read(outcome.readings)
        if not outcome.events:
            self.receiver.state.accepted(outcome.outbox_id, key)
            done: asyncio.Future[Any] = loop.create_future()
            done.set_result(None)
            return done
        future = asyncio.wrap_future(self.bridge.emit(outcome.events), loop=loop)
        self._pending[key] = future

        def accepted(f: asyncio.Future[Any]) -> None:
            self._pending.pop(key, None)
            if not f.cancelled() and f.exception() is None:
                self.receiver.state.accepted(outcome.outbox_id, key)

        future.add_done_callback(accepted)
        return future

    def replay(self) -> int:
        """At start: send again what was staged and not acknowledged before a stop."""
        staged = self.receiver.state.staged()
        for s in staged:
            self.send(Outcome(Result.STAGED, s.id, s.events, s.readings), s.key)
        return len(staged)

    def supervise(self, now: float) -> None:
        for outbox_id, key, events in self.receiver.supervise(now):
            self.send(Outcome(Result.STAGED, outbox_id, events), key)

    async def accept(self, account: Account, pushes: list[Push], raw: bytes) -> bool:
        """Take the pushes; True once all are accepted, False if not acknowledged in time."""
        now = time.time()
        waits: list[asyncio.Future[Any]] = []
        for push in pushes:
            outcome = self.receiver.take(account.name, push, raw, now)
            if outcome.result is Result.STAGED:
                waits.append(self.send(outcome, push.key))
            elif outcome.result is Result.PENDING:
                pending = self._pending.get(push.key)
                if pending is not None:
                    waits.append(pending)
        if not waits:
            return True
        try:
            await asyncio.wait_for(
                asyncio.gather(*(asyncio.shield(w) for w in waits)), self.ack_timeout_s
            )
        except TimeoutError:
            return False
        return True

    # ---- ASGI ----------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        status, body, ctype = await self._handle(scope, receive)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", ctype), (b"content-length",
                                                          str(len(body)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})

    async def _handle(self, scope: Scope, receive: Receive) -> Reply:  # noqa: PLR0911 - a router
        path = scope["path"].rstrip("/")
        method = scope["method"]
        client = (scope.get("client") or ("?", 0))[0]
        if path == "/healthz" and method == "GET":
            return 200, self._health(), b"application/json"
        parts = path.strip("/").split("/")
        if len(parts) != 2 or (parts[0], parts[1]) not in self.accounts:
            return 404, b"no such endpoint\n", TEXT
        account = self.accounts[(parts[0], parts[1])]
        if account.allow_from and client not in account.allow_from:
            return self._refuse(account, client, "address not allowed", 403)
        qs = scope.get("query_string", b"").decode("latin-1")
        query = {k: v[0] for k, v in parse_qs(qs, keep_blank_values=True).items()}
        if method == "GET" and account.source is Source.ONENET:
            try:
                msg = url_check(query, account.token)
            except AuthError as exc:
                return self._refuse(account, client, str(exc))
            return 200, msg.encode("utf-8"), TEXT
        if method != "POST":
            return 405, b"POST a push here\n", TEXT
        try:
            raw = await _body(scope, receive, self.max_body)
        except BodyTooLargeError:
            self._count_refused("too_large")
            log.warning("refused a body over %d bytes on %s from %s", self.max_body, path, client)
            return 413, b"body too large\n", TEXT
        return await self._post(account, client, query, raw)

    async def _post(self, account: Account, client: str, query: dict[str, str],
                    raw: bytes) -> Reply:  # fmt: skip
        now = time.time()
        try:
            if account.source is Source.CTWING:
                check_token(account.token, query.get("token"))
                pushes = [parse_ctwing(raw, now)]
            else:
                pushes = parse_onenet(raw, OneNetAccount(account.token, account.aes_key), now)
        except AuthError as exc:
            return self._refuse(account, client, str(exc))
        except MalformedError as exc:
            self._count_refused("malformed")
            log.warning("malformed push for %s/%s from %s: %s", account.source, account.name,
                        client, exc)  # fmt: skip
            if account.source is Source.CTWING:  # authenticated by its token: keep it
                self.receiver.malformed(account.source, account.name, str(exc), raw, now)
            return 400, f"malformed push: {exc}\n".encode(), TEXT
        if not self.ready():
            log.warning("the registry is not loaded yet (database unreachable?): 503")
            return 503, b"not ready; retry\n", TEXT
        if not await self.accept(account, pushes, raw):
            return 503, b"not acknowledged in time; retry\n", TEXT
        return 200, b"ok", TEXT

    def _refuse(self, account: Account, client: str, why: str, status: int = 401) -> Reply:
        self._count_refused("unauthorised")
        log.warning("refused push for %s/%s from %s: %s", account.source, account.name, client, why)
        return status, b"unauthorised\n", TEXT

    def _count_refused(self, why: str) -> None:
        self.refused[why] = self.refused.get(why, 0) + 1

    def _health(self) -> bytes:
        return json.dumps(
            {"accepted": self.receiver.counters, "refused": self.refused,
             "pending": len(self._pending)}, sort_keys=True,
        ).encode()  # fmt: skip


async def _body(scope: Scope, receive: Receive, limit: int) -> bytes:
    for name, value in scope.get("headers", []):
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
