"""The login check EMQX asks at every MQTT CONNECT: password right AND client id bound to it.

A client id names a broker session, and a second connection with an id in use throws the first
off and takes or wipes its session. EMQX binds no client id to a login by itself, so a gateway's
login could connect as an ingest worker (`vigil-ingest-0of1`, `…-events`) or as another gateway
(`vigil-gw-<id>`) and take over its session (issue 14, docs/security.md). compose.yaml therefore
makes EMQX's only authenticator the HTTP one (`password_based`, `backend = http`), which posts
`{"clientid", "username", "password"}` here with a shared secret header; the answer is 200 with
`{"result": "allow" | "deny", "is_superuser": false}` (EMQX 5.8's documented contract).

- The service account (VIGIL_MQTT_USERNAME/PASSWORD, as the Vigil services log in) may use any
  `vigil-…` client id except a gateway's `vigil-gw-…`.
- A gateway's login (registry table `broker_accounts`, written by the console) may use only
  `vigil-gw-<gateway id>`, and only while the gateway is neither revoked nor retired.

Anything else is denied. A request without the secret, or not in EMQX's form, gets a 4xx: EMQX
then treats it as `ignore`, and with no authenticator after this one the login is refused.
Passwords are compared in constant time, and a user that does not exist costs the same PBKDF2
as one that does, so timing tells neither the password nor which usernames exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any

import psycopg
import uvicorn
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from psycopg_pool import ConnectionPool, PoolTimeout
from starlette.exceptions import HTTPException

from vigil.broker_auth import GATEWAY_CLIENT_PREFIX, derive, gateway_client_id
from vigil.db.connect import Conn
from vigil.observability.metrics import BROKER_LOGINS_TOTAL

log = logging.getLogger(__name__)

LOGIN_PATH = "/mqtt/auth"
SECRET_HEADER = "X-Vigil-Broker-Secret"  # noqa: S105 (a header name)
SERVICE_CLIENT_PREFIX = "vigil-"
MAX_BODY_BYTES = 4096  # a client id, a username and a password, JSON-escaped
# A longer body is not read: uvicorn drops it, keeping the connection in step, up to what one
# CONNECT under EMQX's 272 KB packet limit can become once JSON-escaped; past that the answer
# ends the connection.
MAX_DRAIN_BYTES = 2 * 1024 * 1024
# EMQX's HTTP client keeps its pooled connections open with no idle timer of its own; closing
# an idle one just as EMQX sends a login on it would lose that login (ignore, so refused).
# uvicorn's default is 5 s; a day keeps them as the pool does.
KEEP_ALIVE_S = 24 * 3600
START_TIMEOUT_S = 30.0
MIN_SECRET_CHARS = 16
_DUMMY_SALT = b"vigil-no-such-user"  # the PBKDF2 an unknown user costs (see module docstring)


class Reason(StrEnum):
    """Why a login was allowed or denied (logged; never sent to the client)."""

    ALLOWED = "allowed"
    BAD_PASSWORD = "bad_password"  # noqa: S105 (a reason)
    FOREIGN_CLIENT_ID = "foreign_client_id"
    UNKNOWN_USER = "unknown_user"


@dataclass(frozen=True)
class Login:
    """The three fields EMQX fills in from the CONNECT packet."""

    clientid: str
    username: str
    password: str


@dataclass(frozen=True)
class StoredLogin:
    """A gateway's login as `broker_accounts` keeps it (`vigil.broker_auth.hash_password`)."""

    client_id: str
    password: str
    salt: str
    iterations: int


Lookup = Callable[[str], StoredLogin | None]


def registry_lookup(pool: ConnectionPool[Conn]) -> Lookup:
    """A gateway's stored login, or None when it has none or the gateway is revoked/retired."""

    def lookup(username: str) -> StoredLogin | None:
        with pool.connection() as conn:
            row = conn.execute(
                "select a.client_id, a.password, a.salt, a.iterations from broker_accounts a "
                "join gateways g on g.id = a.username and g.mqtt_username = a.username "
                "where a.username = %s and g.revoked_at is null and g.retired_at is null",
                (username,),
            ).fetchone()
        return None if row is None else StoredLogin(str(row[0]), row[1], row[2], int(row[3]))

    return lookup


def _same(a: str, b: str) -> bool:
    """Constant time whatever the lengths (digests of equal size are compared)."""
    return hmac.compare_digest(
        hashlib.sha256(a.encode("utf-8", "surrogatepass")).digest(),
        hashlib.sha256(b.encode("utf-8", "surrogatepass")).digest(),
    )


def is_service_client_id(client_id: str) -> bool:
    """The client ids of the Vigil services: `vigil-…` (ingest's `vigil-ingest-<i>of<n>` and
    its `-events`/`-status` lanes, `vigil-auth-…`, `vigil-commission-…`), never a gateway's."""
    return client_id.startswith(SERVICE_CLIENT_PREFIX) and not client_id.startswith(
        GATEWAY_CLIENT_PREFIX
    )


class LoginCheck:
    """Decides one login against the service account and the gateways' stored logins."""

    def __init__(self, service_user: str, service_password: str, lookup: Lookup) -> None:
        self.service_user = service_user
        self._service_password = service_password
        self._lookup = lookup

    def decide(self, login: Login) -> Reason:
        if login.username == self.service_user:
            return self._service(login)
        return self._gateway(login)

    def _service(self, login: Login) -> Reason:
        if not _same(login.password, self._service_password):
            return Reason.BAD_PASSWORD
        if not is_service_client_id(login.clientid):
            return Reason.FOREIGN_CLIENT_ID
        return Reason.ALLOWED

    def _gateway(self, login: Login) -> Reason:
        stored = self._lookup(login.username) if login.username else None
        if stored is None:
            derive(login.password, _DUMMY_SALT)
            return Reason.UNKNOWN_USER
        digest = derive(login.password, base64.b64decode(stored.salt), stored.iterations)
        if not hmac.compare_digest(digest, base64.b64decode(stored.password)):
            return Reason.BAD_PASSWORD
        bound = gateway_client_id(login.username)
        if login.clientid != bound or stored.client_id != bound:
            return Reason.FOREIGN_CLIENT_ID
        return Reason.ALLOWED


class BadRequestError(Exception):
    """A request EMQX would not send: answered with a 4xx status, which EMQX takes as ignore."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


def parse_login(headers: Any, body: bytes) -> Login:
    """The login in EMQX's body, or `BadRequestError`."""
    content_type = str(headers.get("Content-Type", "")).split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        raise BadRequestError(415, "the body must be application/json")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequestError(400, "the body is not JSON") from exc
    if not isinstance(data, dict):
        raise BadRequestError(400, "the body is not a JSON object")
    fields = {}
    for name in ("clientid", "username", "password"):
        value = data.get(name)
        if not isinstance(value, str):
            raise BadRequestError(400, f"{name} is missing or not a string")
        fields[name] = value
    return Login(**fields)


class BrokerLoginServer:
    """uvicorn serving EMQX's authenticator on `LOGIN_PATH` from a thread of its own (the
    caller keeps the signals); port 0 picks a free port."""

    def __init__(
        self, check: LoginCheck, secret: str, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        if len(secret) < MIN_SECRET_CHARS:
            raise ValueError(f"the broker login secret needs {MIN_SECRET_CHARS} characters or more")
        self.check = check
        self.failure: str | None = None  # the last lookup error, for /healthz
        self._secret = secret
        self._host = host
        config = uvicorn.Config(
            login_app(self), host=host, port=port, lifespan="off", server_header=False,
            log_config=None, log_level="warning", access_log=False,  # denials are logged here
            timeout_keep_alive=KEEP_ALIVE_S, timeout_graceful_shutdown=5,
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="broker-login", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.servers[0].sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self._host == "0.0.0.0" else self._host  # noqa: S104
        return f"http://{host}:{self.port}"

    def authentic(self, sent: str) -> bool:
        """Whether a request carries the shared secret (compared in constant time)."""
        return _same(sent, self._secret)

    def health(self) -> str | None:
        """None while the registry answered the last lookup."""
        return self.failure

    def answer(self, login: Login) -> tuple[int, dict[str, Any]]:
        """EMQX's status and body for one login; 503 (ignore, so refused) when the registry
        cannot be read. Blocking (PBKDF2, the registry): called in the thread pool."""
        try:
            reason = self.check.decide(login)
        except (psycopg.Error, PoolTimeout) as exc:
            BROKER_LOGINS_TOTAL.labels("registry_error").inc()
            self.failure = f"the registry cannot be read: {type(exc).__name__}"
            log.error("broker login for %r: %s", login.username, self.failure)
            return 503, {"error": "the registry cannot be read"}
        self.failure = None
        BROKER_LOGINS_TOTAL.labels(reason.value).inc()
        result = "allow" if reason is Reason.ALLOWED else "deny"
        if reason is not Reason.ALLOWED:
            log.warning(
                "broker login denied: user %r, client id %r (%s)",
                login.username, login.clientid, reason.value,
            )  # fmt: skip
        return 200, {"result": result, "is_superuser": False}

    def start(self) -> BrokerLoginServer:
        """Serve, once listening; OSError when it cannot (the port taken, say)."""
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise OSError(f"could not listen on {self._host}:{self._server.config.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10.0)

    def __enter__(self) -> BrokerLoginServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def login_app(server: BrokerLoginServer) -> FastAPI:
    """`POST LOGIN_PATH` and nothing else: no API docs, no redirect of a trailing slash."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False)

    @app.exception_handler(HTTPException)
    async def elsewhere(request: Request, exc: HTTPException) -> JSONResponse:
        """Another path (404) or method (405): refused like any request EMQX would not send."""
        refused = BadRequestError(exc.status_code, f"the login check is POST {LOGIN_PATH}")
        return _refusal(request, refused, exc.headers)

    @app.post(LOGIN_PATH)
    async def login(request: Request) -> JSONResponse:
        try:
            sent = await _read_login(server, request)
        except BadRequestError as exc:
            return _refusal(request, exc)
        status, body = await run_in_threadpool(server.answer, sent)  # off the event loop
        return JSONResponse(body, status_code=status)

    return app


async def _read_login(server: BrokerLoginServer, request: Request) -> Login:
    """The login, reading no body over the limit nor of a request without the secret."""
    length = request.headers.get("Content-Length", "")
    if not length.isdigit():
        raise BadRequestError(411, "a Content-Length is required")
    if int(length) > MAX_BODY_BYTES:
        raise BadRequestError(413, f"the body is over {MAX_BODY_BYTES} bytes")
    if not server.authentic(request.headers.get(SECRET_HEADER, "")):
        raise BadRequestError(403, f"missing or wrong {SECRET_HEADER}")
    # uvicorn (h11) holds a body to its Content-Length and refuses one sent with both lengths.
    return parse_login(request.headers, await request.body())


def _refusal(
    request: Request, exc: BadRequestError, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The 4xx for a refused request. uvicorn drops the body left unread and answers the
    requests EMQX pipelines behind it on the same connection, unless the body is chunked or
    too long to drop: then the answer ends the connection."""
    BROKER_LOGINS_TOTAL.labels("bad_request").inc()
    length = request.headers.get("Content-Length", "0")
    endless = "Transfer-Encoding" in request.headers
    ends = endless or not length.isdigit() or int(length) > MAX_DRAIN_BYTES
    sent = {**(headers or {}), **({"Connection": "close"} if ends else {})}
    return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=sent)
