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
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from vigil.broker_auth import GATEWAY_CLIENT_PREFIX, PASSWORD_ITERATIONS, gateway_client_id
from vigil.db.connect import Conn
from vigil.observability.metrics import BROKER_LOGINS_TOTAL

log = logging.getLogger(__name__)

LOGIN_PATH = "/mqtt/auth"
SECRET_HEADER = "X-Vigil-Broker-Secret"  # noqa: S105 (a header name)
SERVICE_CLIENT_PREFIX = "vigil-"
MAX_BODY_BYTES = 4096  # a client id, a username and a password, JSON-escaped
# A longer body is read and dropped, keeping the connection in step, up to what one CONNECT
# under EMQX's 272 KB packet limit can become once JSON-escaped; past that the connection ends.
MAX_DRAIN_BYTES = 2 * 1024 * 1024
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


def _pbkdf2(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac(
        "sha512", password.encode("utf-8", "surrogatepass"), salt, iterations
    )


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
            _pbkdf2(login.password, _DUMMY_SALT, PASSWORD_ITERATIONS)
            return Reason.UNKNOWN_USER
        digest = _pbkdf2(login.password, base64.b64decode(stored.salt), stored.iterations)
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
    """Answers EMQX's HTTP authenticator on `LOGIN_PATH`; port 0 picks a free port."""

    def __init__(
        self, check: LoginCheck, secret: str, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        if len(secret) < MIN_SECRET_CHARS:
            raise ValueError(f"the broker login secret needs {MIN_SECRET_CHARS} characters or more")
        self.check = check
        self.failure: str | None = None  # the last lookup error, for /healthz
        self._server = ThreadingHTTPServer((host, port), _handler(self, secret))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="broker-login", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])
        return f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{self.port}"  # noqa: S104

    def health(self) -> str | None:
        """None while the registry answered the last lookup."""
        return self.failure

    def answer(self, login: Login) -> tuple[int, dict[str, Any]]:
        """EMQX's status and body for one login; 503 (ignore, so refused) when the registry
        cannot be read."""
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
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)

    def __enter__(self) -> BrokerLoginServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _handler(server: BrokerLoginServer, secret: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # EMQX keeps a pool of connections open (keep-alive)
        # Headers and body go out in two writes: with Nagle's algorithm the second waits for
        # the client's delayed ACK, 40 ms added to every login (measured: 44 vs 1 ms).
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            try:
                login = self._login(self._body())
            except BadRequestError as exc:
                BROKER_LOGINS_TOTAL.labels("bad_request").inc()
                self._send(exc.status, {"error": str(exc)})
                return
            self._send(*server.answer(login))

        def _body(self) -> bytes:
            """The whole body, read before anything is refused: EMQX pipelines requests on
            its connections, so one refused login must not leave bytes that would be taken for
            the next request, nor close the connection under the logins queued behind it."""
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self.close_connection = True  # where this request ends is unknown
                raise BadRequestError(411, "a Content-Length is required")
            size = int(length)
            if size > MAX_BODY_BYTES:
                if size > MAX_DRAIN_BYTES:
                    self.close_connection = True
                else:
                    while size > 0 and (chunk := self.rfile.read(min(size, 65536))):
                        size -= len(chunk)
                raise BadRequestError(413, f"the body is over {MAX_BODY_BYTES} bytes")
            return self.rfile.read(size)

        def _login(self, body: bytes) -> Login:
            if self.path.split("?", 1)[0] != LOGIN_PATH:
                raise BadRequestError(404, f"the login check is POST {LOGIN_PATH}")
            if not _same(self.headers.get(SECRET_HEADER, ""), secret):
                raise BadRequestError(403, f"missing or wrong {SECRET_HEADER}")
            return parse_login(self.headers, body)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """One line per CONNECT would drown the log; denials are logged by `answer`."""

    return Handler
