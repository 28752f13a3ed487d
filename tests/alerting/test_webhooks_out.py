"""Outbound webhooks: signed deliveries of incident events to the subscribers that want them,
each with one delivery id, retried until taken; the admin API."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from alerting import webhooks_out
from alerting.policies import PolicyBook
from alerting.sms.demo import DemoProvider
from alerting.supervisor import fire_due
from alerting.triage import triage_pending
from alerting.webhooks_out import WebhookDispatcher
from console.api import accounts
from console.api.roles import Role
from tests.alerting.fix_alerting import raise_alert, seed
from tests.alerting.fix_webhook import SECRET, Receiver
from tests.alerting.running import AppServer, NotifierThread
from vigil.backoff import Backoff
from vigil.harness import wait_for
from vigil.settings import Settings

pytestmark = pytest.mark.stack


def subscribe(
    conn: psycopg.Connection[Any],
    url: str,
    *,
    name: str = "hotline",
    secret: str = SECRET,
    causes: list[str] | None = None,
    grids: list[str] | None = None,
) -> int:
    row = conn.execute(
        "insert into webhook_subscribers (name, url, secret, causes, grids) "
        "values (%s, %s, %s, %s, %s) returning id",
        (name, url, secret, causes or [], grids or []),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_signature_round_trip_and_replay_window() -> None:
    body = b'{"a": 1}'
    header = webhooks_out.sign("s" * 16, 1_700_000_000, body)
    assert webhooks_out.verify("s" * 16, header, body, now=1_700_000_100)
    assert not webhooks_out.verify("s" * 16, header, body + b" ", now=1_700_000_100)
    assert not webhooks_out.verify("x" * 16, header, body, now=1_700_000_100)
    assert not webhooks_out.verify("s" * 16, header, body, now=1_700_001_000)  # too old
    assert not webhooks_out.verify("s" * 16, "garbage", body, now=1_700_000_000)


def test_subscribers_get_the_events_they_want_signed_once_each(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path, receiver: Receiver
) -> None:
    seed(conn)
    subscribe(conn, receiver.url, causes=["panic"], grids=["g1"])
    other = Receiver(secret="another-secret-0001")
    try:
        subscribe(conn, other.url, name="bms", secret=other.secret, causes=["fire"])
        raise_alert(conn, kind="panic", device="pb-1", severity=5)
        book = PolicyBook(policy_dir)
        now = datetime.now(UTC)
        [iid] = triage_pending(conn, book, now=now)
        fire_due(conn, book, now=now + timedelta(seconds=10))
        with NotifierThread(adb, DemoProvider(adb)):
            wait_for(lambda: len(receiver.received) >= 2, what="two deliveries")
            time.sleep(0.5)  # time for a wrong extra delivery to show
    finally:
        other.stop()
    events = [d["event"] for d in receiver.received]
    assert events == ["incident.opened", "incident.escalated"]
    assert len(set(receiver.delivery_ids())) == 2
    opened = receiver.received[0]
    assert opened["incident"]["id"] == iid
    assert opened["incident"]["address"] == "幸福路8号3号楼"
    assert opened["incident"]["cap"].endswith(f"/api/cap/{iid}")
    assert "张奶奶" not in str(opened)
    assert receiver.bad_signatures == 0
    assert other.received == []  # a fire subscriber hears nothing of a panic


def test_a_subscriber_with_the_wrong_secret_is_retried_not_lost(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path, receiver: Receiver
) -> None:
    seed(conn)
    subscribe(conn, receiver.url, secret="not-the-receivers-secret")
    raise_alert(conn, kind="panic", device="pb-1", severity=5)
    triage_pending(conn, PolicyBook(policy_dir), now=datetime.now(UTC))
    thread = NotifierThread(adb, DemoProvider(adb))
    thread.notifier.webhooks = WebhookDispatcher(
        Backoff(initial=0.1, maximum=60.0, give_up_after=24 * 3600.0)
    )
    with thread:
        wait_for(lambda: receiver.bad_signatures >= 2, what="two refused attempts")
    row = conn.execute("select status, attempts, last_error from webhook_outbox").fetchone()
    assert row is not None
    assert row[0] in ("pending", "sending")
    assert row[1] >= 2
    assert row[2] is not None
    assert "HTTP 401" in row[2]


def test_admins_manage_subscribers_and_never_read_a_secret_back(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path
) -> None:
    admin = accounts.create_user(conn, username="adm", password="admin-password-1", role=Role.ADMIN)
    token = accounts.open_session(
        conn,
        user_id=admin,
        now=datetime.now(UTC),
        lifetime=timedelta(hours=1),
        remote_addr=None,
        user_agent="tests",
    )
    headers = {"Authorization": f"Bearer {token}"}
    with AppServer(Settings(escalation_dir=policy_dir), adb) as app:
        url = f"{app.url}/api/webhooks"
        body = {"name": "hotline", "url": "https://12345.example/hook", "secret": SECRET}
        made = httpx.post(url, json=body, headers=headers)
        assert made.status_code == 201, made.text
        assert SECRET not in made.text
        assert httpx.post(url, json=body, headers=headers).status_code == 409
        short = {**body, "name": "x", "secret": "short"}
        assert httpx.post(url, json=short, headers=headers).status_code == 422
        assert httpx.post(url, json={**body, "name": "y"}).status_code == 401
        listed = httpx.get(url, headers=headers).json()
        assert [s["name"] for s in listed] == ["hotline"]
        gone = httpx.delete(f"{url}/{made.json()['id']}", headers=headers).json()
        assert gone["disabled_at"] is not None
