"""EMQX's login check (`vigil ops broker-login`): a login passes only with its password AND the
client id bound to it, so no login can take over another client's session (issue 14).

EMQX cannot run here (no container engine), so each test sends what EMQX 5.8 sends for a
CONNECT: the request is rendered from compose.yaml's own EMQX_AUTHENTICATION (method, headers
with the shared secret, the body with `${clientid}`, `${username}`, `${password}` filled in),
only the URL's host and port moved to the check running here, in its own process, on the same
registry a console (VIGIL_BROKER_ACCOUNTS=registry) provisions gateways into.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from console.app import create_app
from tests.fix_stack import end_connections
from tests.ops.compose_rules import emqx_authenticators, parse
from tests.ops.emqx_authn import Request, emqx_request
from tests.provisioning.conftest import PASSWORD
from vigil.broker_auth import hash_password
from vigil.broker_login import BrokerLoginServer, Login, LoginCheck, Reason, StoredLogin
from vigil.harness import free_port
from vigil.settings import REPO_ROOT, Settings
from vigil.stack import LocalStack

pytestmark = [pytest.mark.stack, pytest.mark.security]

SERVICE_PASSWORD = secrets.token_hex(16)
GW_A, GW_B = "gw-login-a", "gw-login-b"


@dataclass(frozen=True)
class Check:
    """The running check and the authenticator EMQX would use to reach it."""

    url: str
    health: str
    authenticator: dict[str, Any]

    def request(self, clientid: str, username: str, password: str) -> Request:
        return emqx_request(self.authenticator, clientid, username, password)

    def send(self, client: httpx.Client, request: Request) -> httpx.Response:
        return client.request(
            request.method, request.url, headers=request.headers, content=request.body
        )

    def login(self, client: httpx.Client, clientid: str, username: str, password: str) -> str:
        """EMQX's verdict for one CONNECT: 'allow' or 'deny' from a 200, 'ignore' otherwise."""
        answer = self.send(client, self.request(clientid, username, password))
        if answer.status_code not in (200, 204):
            return "ignore"  # EMQX 5.8: a 4xx/5xx body is ignored and the chain goes on
        assert answer.headers["content-type"] == "application/json"
        body = answer.json()
        assert body["is_superuser"] is False
        return str(body["result"])


def _compose_authenticator() -> dict[str, Any]:
    compose, problems = parse((REPO_ROOT / "compose.yaml").read_text(), REPO_ROOT)
    assert compose is not None, problems
    (authenticator,) = emqx_authenticators(compose)
    return dict(authenticator)


@pytest.fixture(scope="module")
def check(
    prov_dsn: str, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Check]:
    """`vigil ops broker-login` in a process of its own, with compose.yaml's secret (the value
    .env.example gives it, as the compose rules interpolate it)."""
    authenticator = _compose_authenticator()
    secret = authenticator["headers"]["X-Vigil-Broker-Secret"]
    port, metrics = free_port(), free_port()
    log = tmp_path_factory.mktemp("broker-login") / "broker-login.log"
    env = os.environ | {
        "VIGIL_DATABASE_URL": prov_dsn,
        "VIGIL_MQTT_USERNAME": "vigil",
        "VIGIL_MQTT_PASSWORD": SERVICE_PASSWORD,
        "VIGIL_BROKER_LOGIN_SECRET": secret,
        "VIGIL_METRICS_HOST": "127.0.0.1",
        "VIGIL_METRICS_PORT": str(metrics),
        "VIGIL_STACK_PG_PORT": str(settings.stack_pg_port),
        "VIGIL_STACK_MQTT_PORT": str(settings.stack_mqtt_port),
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vigil.cli", "ops", "broker-login", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT,
        )  # fmt: skip
    health = f"http://127.0.0.1:{metrics}/healthz"
    _wait_for(proc, health, log)
    path = urlsplit(authenticator["url"]).path
    url = f"http://127.0.0.1:{port}{path}"
    try:
        yield Check(url, health, {**authenticator, "url": url})
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for(proc: subprocess.Popen[bytes], health: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"broker-login exited {proc.returncode}: {log.read_text()}")
        try:
            if httpx.get(health, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"broker-login did not start: {log.read_text()}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def installer(prov_dsn: str, settings: Settings) -> Iterator[TestClient]:
    """The console, keeping gateway logins in the registry as compose.yaml configures it."""
    app = create_app(
        settings.model_copy(
            update={"database_url": SecretStr(prov_dsn), "broker_accounts": "registry"}
        )
    )
    with TestClient(app) as client:
        answer = client.post("/api/auth/login", json={"username": "inst", "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        yield client


@pytest.fixture(scope="module")
def passwords(installer: TestClient) -> dict[str, str]:
    """Two gateways registered through the console: their one-time broker passwords."""
    out = {}
    for gw in (GW_A, GW_B):
        answer = installer.post(
            "/api/gateways", json={"id": gw, "site_id": "s1", "mqtt_username": gw}
        )
        assert answer.status_code == 201, answer.text
        out[gw] = answer.json()["credentials"]["password"]
    return out


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def test_the_check_is_healthy_and_the_console_stored_hashes_not_passwords(
    check: Check, passwords: dict[str, str], prov_dsn: str
) -> None:
    assert httpx.get(check.health, timeout=5).json()["status"] == "ok"
    with psycopg.connect(prov_dsn) as conn:
        rows = conn.execute(
            "select username, client_id, password, iterations from broker_accounts "
            "where username = any(%s) order by username",
            ([GW_A, GW_B],),
        ).fetchall()
    assert [(r[0], r[1], r[3]) for r in rows] == [
        (GW_A, f"vigil-gw-{GW_A}", 20_000),
        (GW_B, f"vigil-gw-{GW_B}", 20_000),
    ]
    assert not {r[2] for r in rows} & set(passwords.values())


def test_a_gateway_logs_in_with_its_password_and_its_own_client_id(
    check: Check, passwords: dict[str, str], http: httpx.Client
) -> None:
    answer = check.send(http, check.request(f"vigil-gw-{GW_A}", GW_A, passwords[GW_A]))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"result": "allow", "is_superuser": False}


def test_logins_after_the_database_ended_the_checks_connections_are_answered(
    check: Check,
    passwords: dict[str, str],
    http: httpx.Client,
    prov_dsn: str,
    stack: LocalStack,
) -> None:
    """A database restart or failover ends every connection the check's pool holds idle: the
    next login is still decided, not refused with a 503 for a dead connection handed out."""
    args = (f"vigil-gw-{GW_A}", GW_A, passwords[GW_A])
    assert check.login(http, *args) == "allow"
    assert end_connections(stack, prov_dsn) >= 1, "the check's connection was ended"
    assert [check.login(http, *args) for _ in range(6)] == ["allow"] * 6


def test_a_wrong_password_is_denied(
    check: Check, passwords: dict[str, str], http: httpx.Client
) -> None:
    assert check.login(http, f"vigil-gw-{GW_A}", GW_A, passwords[GW_A] + "x") == "deny"
    assert check.login(http, f"vigil-gw-{GW_A}", GW_A, passwords[GW_B]) == "deny"
    assert check.login(http, f"vigil-gw-{GW_A}", GW_A, "") == "deny"


@pytest.mark.parametrize(
    "foreign",
    [
        "vigil-ingest-0of1",
        "vigil-ingest-0of1-events",
        "vigil-ingest-3of8-status",
        f"vigil-gw-{GW_B}",
        f"vigil-gw-{GW_A}-2",
        "anything",
        "",
    ],
)
def test_the_right_password_with_another_client_id_is_denied(
    check: Check, passwords: dict[str, str], http: httpx.Client, foreign: str
) -> None:
    """The takeover of issue 14: a gateway's login as ingest's or another gateway's session."""
    assert check.login(http, foreign, GW_A, passwords[GW_A]) == "deny"


def test_an_unknown_user_is_denied(check: Check, http: httpx.Client) -> None:
    assert check.login(http, "vigil-gw-gw-nobody", "gw-nobody", "whatever") == "deny"
    assert check.login(http, "vigil-gw-x", "", "") == "deny"
    assert check.login(http, "vigil-gw-x", "../etc", "p") == "deny"


def test_the_service_account_uses_service_client_ids_only(
    check: Check, passwords: dict[str, str], http: httpx.Client
) -> None:
    for clientid in ("vigil-ingest-0of1", "vigil-ingest-0of1-events", "vigil-auth-0a1b2c"):
        assert check.login(http, clientid, "vigil", SERVICE_PASSWORD) == "allow"
    assert check.login(http, f"vigil-gw-{GW_A}", "vigil", SERVICE_PASSWORD) == "deny"
    assert check.login(http, "mallory", "vigil", SERVICE_PASSWORD) == "deny"
    assert check.login(http, "vigil-ingest-0of1", "vigil", passwords[GW_A]) == "deny"


def test_revoking_and_rekeying_in_the_console_take_effect_at_the_next_login(
    check: Check, installer: TestClient, passwords: dict[str, str], http: httpx.Client
) -> None:
    assert check.login(http, f"vigil-gw-{GW_B}", GW_B, passwords[GW_B]) == "allow"
    assert installer.post(f"/api/gateways/{GW_B}/revoke").status_code == 200
    assert check.login(http, f"vigil-gw-{GW_B}", GW_B, passwords[GW_B]) == "deny"
    answer = installer.post(f"/api/gateways/{GW_B}/credentials")
    assert answer.status_code == 200, answer.text
    fresh = answer.json()["credentials"]["password"]
    assert check.login(http, f"vigil-gw-{GW_B}", GW_B, passwords[GW_B]) == "deny"
    assert check.login(http, f"vigil-gw-{GW_B}", GW_B, fresh) == "allow"
    passwords[GW_B] = fresh


def test_without_the_secret_the_answer_is_not_a_verdict(
    check: Check, passwords: dict[str, str], http: httpx.Client
) -> None:
    """403: EMQX would take it as ignore, and with no authenticator after it, refuse."""
    request = check.request(f"vigil-gw-{GW_A}", GW_A, passwords[GW_A])
    headers = {k: v for k, v in request.headers.items() if k != "X-Vigil-Broker-Secret"}
    for sent in (headers, {**headers, "X-Vigil-Broker-Secret": "0" * 48}):
        answer = http.post(check.url, headers=sent, content=request.body)
        assert answer.status_code == 403
        assert "result" not in answer.json()


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"clientid=vigil-gw-a&username=a&password=p", "application/x-www-form-urlencoded", 415),
        (b"{not json", "application/json", 400),
        (b'["vigil-gw-a", "a", "p"]', "application/json", 400),
        (b'{"clientid": "vigil-gw-a", "username": "a"}', "application/json", 400),
        (b'{"clientid": "vigil-gw-a", "username": "a", "password": 1}', "application/json", 400),
        (b'{"clientid": "' + b"x" * 5000 + b'", "username": "a", "password": "p"}',
         "application/json", 413),
        (b"\xff\xfe", "application/json", 400),
    ],
)  # fmt: skip
def test_a_malformed_request_gets_no_verdict(
    check: Check, http: httpx.Client, body: bytes, content_type: str, status: int
) -> None:
    headers = {**check.request("c", "u", "p").headers, "Content-Type": content_type}
    answer = http.post(check.url, headers=headers, content=body)
    assert answer.status_code == status
    assert "result" not in answer.json()


def test_only_the_login_path_answers(check: Check, http: httpx.Client) -> None:
    request = check.request("vigil-ingest-0of1", "vigil", SERVICE_PASSWORD)
    other = check.url.replace("/mqtt/auth", "/mqtt/acl")
    assert http.post(other, headers=request.headers, content=request.body).status_code == 404
    assert (
        http.post(check.url + "/", headers=request.headers, content=request.body).status_code == 404
    )
    answer = http.get(check.url, headers=request.headers)
    assert (answer.status_code, answer.headers["allow"]) == (405, "POST")
    assert "result" not in answer.json()
    assert http.get(check.url.replace("/mqtt/auth", "/docs")).status_code == 404


def test_one_kept_alive_connection_answers_many_logins(
    check: Check, passwords: dict[str, str]
) -> None:
    """EMQX keeps a pool of connections open: answers must not end or garble them."""
    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=1)) as one:
        verdicts = [
            check.login(one, f"vigil-gw-{GW_A}", GW_A, passwords[GW_A] if i % 2 else "bad")
            for i in range(6)
        ]
    assert verdicts == ["deny", "allow"] * 3


def _raw(
    request: Request, headers: dict[str, str] | None = None, body: bytes | None = None
) -> bytes:
    """One HTTP/1.1 request as bytes, as a pipelining client writes it."""
    body = request.body if body is None else body
    host = urlsplit(request.url)
    lines = [f"{request.method} {host.path} HTTP/1.1", f"Host: {host.netloc}"]
    sent = {**request.headers, **(headers or {}), "Content-Length": str(len(body))}
    lines += [f"{k}: {v}" for k, v in sent.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _responses(sock: socket.socket, count: int) -> list[tuple[int, dict[str, Any]]]:
    """Read `count` responses (status, JSON body) from one connection."""
    data, out = b"", list[tuple[int, dict[str, Any]]]()
    while len(out) < count:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            head = data[:head_end].decode()
            length = int(re.search(r"(?i)content-length: (\d+)", head)[1])  # type: ignore[index]
            if len(data) >= head_end + 4 + length:
                body = data[head_end + 4 : head_end + 4 + length]
                out.append((int(head.split(" ", 2)[1]), json.loads(body)))
                data = data[head_end + 4 + length :]
                continue
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed after {len(out)} of {count} answers"
        data += chunk
    return out


def test_refused_requests_do_not_break_the_logins_pipelined_behind_them(
    check: Check, passwords: dict[str, str]
) -> None:
    """EMQX pipelines logins on each pooled connection (enable_pipelining = 100): a refused
    request (no secret, an oversized body) must leave the next one on the wire intact."""
    good = check.request(f"vigil-gw-{GW_A}", GW_A, passwords[GW_A])
    oversized = _raw(good, body=b'{"clientid": "' + b"x" * 300_000 + b'"}')
    no_secret = _raw(good, headers={"X-Vigil-Broker-Secret": "wrong"})
    port = urlsplit(check.url).port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(oversized + _raw(good) + no_secret + _raw(good))
        answers = _responses(sock, 4)
    assert [status for status, _ in answers] == [413, 200, 403, 200]
    assert answers[1][1] == answers[3][1] == {"result": "allow", "is_superuser": False}


def test_an_idle_pooled_connection_is_kept(check: Check) -> None:
    """EMQX keeps its pooled connections open however long they idle (uvicorn would close one
    after 5 s): a login sent on one after a quiet spell is answered, not lost to a close."""
    good = _raw(check.request("vigil-ingest-0of1", "vigil", SERVICE_PASSWORD))
    with socket.create_connection(
        ("127.0.0.1", urlsplit(check.url).port or 80), timeout=10
    ) as sock:
        sock.sendall(good)
        assert _responses(sock, 1)[0][0] == 200
        time.sleep(6)
        sock.sendall(good)
        assert _responses(sock, 1) == [(200, {"result": "allow", "is_superuser": False})]


def _closed(sock: socket.socket) -> bool:
    """Whether the server ended the connection (after its answers, which are already read)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.mark.parametrize(
    ("framing", "status"),
    [
        ({"Content-Length": str(3 * 1024 * 1024)}, 413),  # too long to read and drop
        ({"Transfer-Encoding": "chunked"}, 411),  # its end is not known from its head
    ],
)
def test_a_body_the_check_will_not_drop_ends_the_connection(
    check: Check, framing: dict[str, str], status: int
) -> None:
    """Refused before its body arrives, and the connection ends rather than read it all."""
    request = check.request("vigil-ingest-0of1", "vigil", SERVICE_PASSWORD)
    host = urlsplit(check.url)
    lines = [f"POST {host.path} HTTP/1.1", f"Host: {host.netloc}"]
    lines += [f"{k}: {v}" for k, v in {**request.headers, **framing}.items()]
    with socket.create_connection(("127.0.0.1", host.port or 80), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        ((answered, body),) = _responses(sock, 1)
        assert (answered, "result" in body) == (status, False)
        assert _closed(sock)


def _denials(check: Check, outcome: str) -> float:
    metrics = httpx.get(check.health.replace("/healthz", "/metrics"), timeout=5).text
    for line in metrics.splitlines():
        if line.startswith(f'vigil_broker_logins_total{{outcome="{outcome}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_takeover_attempt_is_counted_for_the_operators(
    check: Check, passwords: dict[str, str], http: httpx.Client
) -> None:
    before = _denials(check, "foreign_client_id"), _denials(check, "bad_request")
    assert check.login(http, "vigil-ingest-0of1", GW_A, passwords[GW_A]) == "deny"
    assert http.post(check.url, content=b"{}").status_code == 403
    after = _denials(check, "foreign_client_id"), _denials(check, "bad_request")
    assert after == (before[0] + 1, before[1] + 1)


def test_an_unknown_user_costs_the_hash_a_known_one_does() -> None:
    """Else the answer's time would tell which gateway ids have a login."""
    stored = StoredLogin("vigil-gw-gw-a", **hash_password("right"))
    check = LoginCheck("vigil", "pw", lambda u: stored if u == "gw-a" else None)

    def median_s(login: Login) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            assert check.decide(login) is not Reason.ALLOWED
            times.append(time.perf_counter() - start)
        return sorted(times)[2]

    known = median_s(Login("vigil-gw-gw-a", "gw-a", "wrong"))
    unknown = median_s(Login("vigil-gw-gw-b", "gw-b", "wrong"))
    assert known > 0.001  # 20,000 PBKDF2-SHA512 rounds
    assert unknown > known / 3


def test_a_registry_that_cannot_be_read_refuses_and_says_so() -> None:
    """503 (EMQX: ignore, then refused) and a failing /healthz until the registry answers."""
    failing = True

    def lookup(_username: str) -> StoredLogin | None:
        if failing:
            raise psycopg.OperationalError("connection refused")
        return None

    with BrokerLoginServer(LoginCheck("vigil", "pw", lookup), "s" * 16) as server:
        login = Login("vigil-gw-a", "gw-a", "p")
        assert server.answer(login) == (503, {"error": "the registry cannot be read"})
        assert server.health() == "the registry cannot be read: OperationalError"
        failing = False
        assert server.answer(login) == (200, {"result": "deny", "is_superuser": False})
        assert server.health() is None


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="16 characters"):
        BrokerLoginServer(LoginCheck("vigil", "pw", lambda _u: None), "short")


def test_a_slow_registry_does_not_hold_up_other_logins() -> None:
    """The lookup and the hash run in the thread pool, off the event loop: while one login
    waits on the registry, the service account's logins are still answered."""
    entered, release = threading.Event(), threading.Event()

    def lookup(_username: str) -> StoredLogin | None:
        entered.set()
        release.wait(10)
        return None

    body = json.dumps({"clientid": "vigil-gw-a", "username": "gw-a", "password": "p"})
    service = json.dumps({"clientid": "vigil-ingest-0of1", "username": "vigil", "password": "pw"})
    headers = {"Content-Type": "application/json", "X-Vigil-Broker-Secret": "s" * 16}
    with (
        BrokerLoginServer(LoginCheck("vigil", "pw", lookup), "s" * 16) as server,
        ThreadPoolExecutor(1) as pool,
    ):
        url = f"{server.url}/mqtt/auth"
        slow = pool.submit(httpx.post, url, headers=headers, content=body, timeout=10)
        assert entered.wait(10)
        fast = httpx.post(url, headers=headers, content=service, timeout=5)
        assert fast.json() == {"result": "allow", "is_superuser": False}
        assert not slow.done()
        release.set()
        assert slow.result().json() == {"result": "deny", "is_superuser": False}
