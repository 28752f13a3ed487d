"""Web Push to a grid member's phone, through the outbox and the notifier, against a loopback
push service that checks what a real one checks: the VAPID JWT (ES256 over the subscription's
origin, signed by the key in `k=`, not expired) and the encrypted payload's headers, and that
decrypts the body (RFC 8291 aes128gcm) with the subscriber's keys as the browser would.
A dispatch pushes once; the notifier's second round and a replayed write send nothing more;
a subscription the service says is gone (410) is revoked."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import psycopg
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from fastapi.testclient import TestClient

from alerting import notify, store
from alerting.notifier import Notifier
from alerting.policies import default_book
from alerting.sms.demo import DemoProvider
from tests.console.seed import open_incident

pytestmark = pytest.mark.stack
SUBJECT = "mailto:duty@vigil.invalid"


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


class PushService(ThreadingHTTPServer):
    """A push service on loopback: 201 for a well-formed push, the check's reason otherwise."""

    def __init__(self, vapid_public: bytes) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.vapid_public = vapid_public
        self.receiver = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        self.received: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.answer = 201

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def check(self, path: str, headers: Any, body: bytes) -> str | None:
        """None if the push is what RFC 8030/8291/8292 ask for, else what is wrong."""
        scheme, _, params = headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "vapid":
            return "Authorization is not vapid"
        fields = dict(p.strip().split("=", 1) for p in params.split(","))
        if unb64u(fields["k"]) != self.vapid_public:
            return "k is not the server's VAPID key"
        header, claims, signature = fields["t"].split(".")
        if json.loads(unb64u(header)) != {"typ": "JWT", "alg": "ES256"}:
            return f"JWT header {unb64u(header)!r}"
        sig = unb64u(signature)
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64u(fields["k"]))
        der = encode_dss_signature(int.from_bytes(sig[:32]), int.from_bytes(sig[32:]))
        try:
            key.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
        except Exception:
            return "JWT signature does not verify"
        jwt = json.loads(unb64u(claims))
        if jwt["aud"] != self.origin or jwt["sub"] != SUBJECT:
            return f"JWT claims {jwt}"
        if not time.time() < jwt["exp"] <= time.time() + 24 * 3600:
            return "JWT expired or valid for more than 24 h"
        if headers.get("Content-Encoding") != "aes128gcm" or not headers.get("TTL"):
            return "Content-Encoding aes128gcm and TTL are required"
        plain = http_ece.decrypt(
            body, private_key=self.receiver, auth_secret=self.auth, version="aes128gcm"
        )
        self.received.append({"path": path, **json.loads(plain)})
        return None


class _Handler(BaseHTTPRequestHandler):
    server: PushService

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        problem = self.server.check(self.path, self.headers, body)
        if problem is not None:
            self.server.refused.append(problem)
            self.send_response(400)
        else:
            self.send_response(self.server.answer)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def vapid() -> tuple[str, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    raw = key.private_numbers().private_value.to_bytes(32, "big")
    return b64u(raw), point(key.public_key())


@pytest.fixture
def push_service(vapid: tuple[str, bytes]) -> Iterator[PushService]:
    server = PushService(vapid[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _webpush_rows(db: psycopg.Connection, incident: int) -> list[tuple[Any, ...]]:
    return db.execute(
        "select status, attempts, last_error from notification_outbox "
        "where incident_id = %s and channel = 'webpush' order by id",
        (incident,),
    ).fetchall()


def _rounds_until_sent(notifier: Notifier, db: psycopg.Connection, incident: int) -> None:
    """Notifier rounds until this incident's pushes are out of the outbox's pending ones.

    The console tests share one database: incidents other tests opened may have left more due
    messages than a few rounds of 10 take, ahead of this one."""
    for _ in range(100):
        asyncio.run(notifier.round())
        if all(status != "pending" for status, *_ in _webpush_rows(db, incident)):
            return
    pytest.fail(f"incident {incident}'s pushes still pending after 100 notifier rounds")


def test_a_dispatch_reaches_the_phone_once_by_web_push(
    clients: dict[str, TestClient],
    db: psycopg.Connection,
    console_dsn: str,
    push_service: PushService,
    vapid: tuple[str, bytes],
) -> None:
    endpoint = f"{push_service.origin}/push/{b64u(os.urandom(8))}"
    subscribed = clients["gm1"].post(
        "/api/field/push/subscription",
        json={
            "endpoint": endpoint,
            "p256dh": b64u(point(push_service.receiver.public_key())),
            "auth": b64u(push_service.auth),
        },
    )
    assert subscribed.status_code == 204, subscribed.text
    incident = open_incident(db, household="h1", cause="panic", severity=5)
    try:
        gm1 = db.execute("select id from users where username = 'gm1'").fetchone()
        assert gm1 is not None
        sent = clients["op"].post(
            f"/api/incidents/{incident}/actions",
            json={"action": "dispatch", "assignee_id": gm1[0]},
        )
        assert sent.status_code == 200, sent.text
        assert [r[0] for r in _webpush_rows(db, incident)] == ["pending"]

        notifier = Notifier(console_dsn, DemoProvider(console_dsn), vapid=(vapid[0], SUBJECT))
        _rounds_until_sent(notifier, db, incident)
        asyncio.run(notifier.round())  # a second round sends nothing more
        assert push_service.refused == []
        assert len(push_service.received) == 1
        message = push_service.received[0]
        assert message["incident_id"] == incident
        assert message["path"] == endpoint.removeprefix(push_service.origin)
        assert message["title"] == "Vigil 网格员：新任务"
        assert "和平路1号" in message["body"]  # the household's address, as in the SMS
        assert [r[0] for r in _webpush_rows(db, incident)] == ["sent"]

        # The same dispatch written again (a replayed transaction) adds no second push.
        with psycopg.connect(console_dsn) as conn:
            row = store.load(conn, incident)
            policy = default_book().for_district(row.district)
            entry = db.execute(
                "select max(id) from incident_timeline where incident_id = %s and "
                "action = 'dispatch'",
                (incident,),
            ).fetchone()
            assert entry is not None
            notify.dispatched(conn, row, policy, entry=entry[0], place=notify.place_of(conn, row))
        _rounds_until_sent(notifier, db, incident)
        assert len(push_service.received) == 1
        assert len(_webpush_rows(db, incident)) == 1

        # The phone unsubscribed: the service answers 410, the subscription is revoked.
        push_service.answer = 410
        clients["op"].post(
            f"/api/incidents/{incident}/actions",
            json={"action": "dispatch", "assignee_id": gm1[0]},
        )
        _rounds_until_sent(notifier, db, incident)
        revoked = db.execute(
            "select revoked_at is not null from push_subscriptions where endpoint = %s",
            (endpoint,),
        ).fetchone()
        assert revoked == (True,)
        assert [r[0] for r in _webpush_rows(db, incident)] == ["sent", "failed"]
    finally:
        db.execute(
            "update incidents set state = 'resolved', closed_at = now() where id = %s",
            (incident,),
        )
