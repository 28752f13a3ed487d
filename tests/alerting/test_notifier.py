"""The outbox worker with each provider, against real loopback servers and the real database."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from alerting import outbox, store
from alerting.notifier import Notifier, notification_backoff
from alerting.policies import PolicyBook
from alerting.sms.demo import DemoProvider
from alerting.sms.http import INBOUND_PATH, HttpSmsProvider
from alerting.sms.smpp import SmppProvider
from alerting.triage import triage_pending
from tests.alerting.fix_alerting import T0, raise_alert, seed
from tests.alerting.fix_smpp import FakeSmsc
from tests.alerting.fix_sms_http import SID, TOKEN, FakeSmsApi
from tests.alerting.running import AppServer, NotifierThread, next_message
from vigil.harness import wait_for
from vigil.settings import Settings

pytestmark = pytest.mark.stack

FAMILY = "+8613800000001"


def _open_incident(conn: psycopg.Connection[Any], policy_dir: Path, **seed_args: Any) -> int:
    seed(conn, **seed_args)
    raise_alert(conn, kind="panic", device="pb-1")
    [iid] = triage_pending(conn, PolicyBook(policy_dir), now=datetime.now(UTC))
    return iid


def _rows(conn: psycopg.Connection[Any], iid: int) -> list[tuple[Any, ...]]:
    return conn.execute(
        "select channel, recipient, status, attempts, provider, provider_id, kind "
        "from notification_outbox where incident_id = %s order by id",
        (iid,),
    ).fetchall()


def _settled(conn: psycopg.Connection[Any], iid: int) -> bool:
    return all(r[2] == "delivered" for r in _rows(conn, iid))


def _http(api: FakeSmsApi, callback: str = "") -> HttpSmsProvider:
    return HttpSmsProvider(
        base_url=api.url,
        account_sid=SID,
        auth_token=TOKEN,
        sender="+10690000",
        callback_url=callback,
    )


def test_http_provider_delivers_takes_receipts_and_replies(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path, sms_api: FakeSmsApi
) -> None:
    iid = _open_incident(conn, policy_dir)
    app = AppServer(
        lambda url: Settings(
            escalation_dir=policy_dir,
            sms_provider="http",
            sms_http_auth_token=SecretStr(TOKEN),
            sms_http_account_sid=SID,
            sms_callback_url=url,
        ),
        adb,
    )
    with app, NotifierThread(adb, _http(sms_api, callback=app.url)), app.websocket() as ws:
        wait_for(lambda: _settled(conn, iid), what="every notification delivered")
        sent = sms_api.messages
        assert {m.to for m in sent} == {FAMILY, "+8613700000001"}
        assert all(m.key and m.key.startswith("t") for m in sent)
        assert {code for _, code in sms_api.callbacks} == {204}
        assert sms_api.send_inbound(app.url + INBOUND_PATH, FAMILY, "1") == 200
        reply = next_message(
            ws,
            lambda m: m["type"] == "incident" and (m["last"] or {}).get("action") == "family_ack",
        )
        assert reply["last"]["note"] == "1"
        # A post that the provider did not sign changes nothing.
        forged = urllib.request.Request(
            app.url + INBOUND_PATH, data=b"From=%2B8613800000001&Body=1", method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=5)
        assert refused.value.code == 403
    assert not app.thread.is_alive()
    timeline = [t["action"] for t in store.get_detail(conn, iid).timeline]
    assert timeline.count("family_ack") == 1


def test_a_crash_between_send_and_commit_sends_once(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path, sms_api: FakeSmsApi
) -> None:
    """The worker hands a message to the provider and dies before recording it: the next
    worker re-claims the row when the lease runs out and re-sends it with the same key,
    and the provider answers with the message it already has."""
    iid = _open_incident(conn, policy_dir, member_phone=None)
    now = datetime.now(UTC)
    [row] = [
        r for r in outbox.claim(conn, now=now, lease=timedelta(seconds=30)) if r.channel == "sms"
    ]
    first_sid = asyncio.run(_http(sms_api).send(key=row.key, to=row.recipient, body=row.body))
    # ...crash: nothing recorded. A new worker, after the lease:
    later = now + timedelta(seconds=31)
    notifier = Notifier(adb, _http(sms_api), clock=lambda: later)
    asyncio.run(notifier.round())
    assert len(sms_api.messages) == 1
    sms = [r for r in _rows(conn, iid) if r[0] == "sms"]
    assert [(r[2], r[5]) for r in sms] == [("sent", first_sid)]


def test_demo_provider_records_each_message_once(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path
) -> None:
    iid = _open_incident(conn, policy_dir)
    now = datetime.now(UTC)
    claimed = outbox.claim(conn, now=now)
    sms = [r for r in claimed if r.channel == "sms"]
    provider = DemoProvider(adb)
    asyncio.run(provider.send(key=sms[0].key, to=sms[0].recipient, body=sms[0].body))
    later = now + timedelta(minutes=1)
    notifier = Notifier(adb, provider, clock=lambda: later)

    async def after_the_crash() -> None:
        await provider.start(notifier)
        await notifier.round()
        await provider.close()

    asyncio.run(after_the_crash())
    logged = conn.execute("select idempotency_key, recipient from sms_demo_messages").fetchall()
    assert sorted(r[1] for r in logged) == sorted(r.recipient for r in sms)
    assert _settled(conn, iid)


def test_permanent_failure_is_recorded_on_the_timeline(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path, sms_api: FakeSmsApi
) -> None:
    iid = _open_incident(conn, policy_dir, member_phone=None)
    wrong = HttpSmsProvider(
        base_url=sms_api.url + "/nowhere", account_sid=SID, auth_token=TOKEN, sender="x"
    )
    asyncio.run(Notifier(adb, wrong).round())
    sms = [r for r in _rows(conn, iid) if r[0] == "sms"]
    assert [(r[2], r[3]) for r in sms] == [("failed", 1)]
    detail = store.get_detail(conn, iid)
    failed = [t for t in detail.timeline if t["action"] == "notification_failed"]
    assert len(failed) == 1
    assert "404" in failed[0]["note"]


def test_retries_back_off_while_the_smsc_is_down(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path, smsc: FakeSmsc
) -> None:
    iid = _open_incident(conn, policy_dir, contacts=((FAMILY, "zh"), ("+8613800000002", "en")))
    smsc.fail_for(3600)
    provider = SmppProvider(
        host="127.0.0.1",
        port=smsc.port,
        system_id="vigil",
        password="secret",
        source_addr="10690000",
        timeout=1.0,
    )
    clock = [T0]
    notifier = Notifier(
        adb, provider, clock=lambda: clock[0], backoff=notification_backoff(maximum=8.0, jitter=0.0)
    )

    async def rounds() -> None:
        await notifier.round()
        clock[0] += timedelta(seconds=1)
        await notifier.round()
        await provider.close()

    conn.execute("update notification_outbox set next_attempt_at = %s", (T0,))
    asyncio.run(rounds())
    sms = conn.execute(
        "select attempts, next_attempt_at, status from notification_outbox "
        "where incident_id = %s and channel = 'sms' order by id",
        (iid,),
    ).fetchall()
    # The first message paid for each try (1 s, then 2 s later); the others waited with it.
    assert sms[0][0] == 2
    assert all(r[2] == "pending" for r in sms)
    assert all(r[0] <= 2 for r in sms[1:])
    assert smsc.messages == []


def test_push_channels_reach_the_live_stream(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path
) -> None:
    settings = Settings(escalation_dir=policy_dir)
    with AppServer(settings, adb) as app, app.websocket() as ws:
        next_message(ws, lambda m: m["type"] == "snapshot")
        iid = _open_incident(conn, policy_dir, member_phone=None, contacts=())
        with NotifierThread(adb, DemoProvider(adb)):
            pushed = next_message(
                ws,
                lambda m: m["type"] == "notification" and m["payload"]["channel"] == "grid_member",
            )
        assert pushed["payload"]["incident_id"] == iid
        assert pushed["payload"]["recipient"] == "gm-g1"
    assert _settled(conn, iid)
