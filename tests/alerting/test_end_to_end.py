"""An alert as the detector stage writes it reaches the console's live stream and the family's
phone over SMPP; the family's "收到" lands in the timeline; the family hears the outcome."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from alerting import store
from alerting.lifecycle import Action
from alerting.policies import PolicyBook
from alerting.sms.smpp import SmppProvider
from tests.alerting.fix_alerting import raise_alert, seed
from tests.alerting.fix_smpp import FakeSmsc
from tests.alerting.running import AlertingThread, AppServer, NotifierThread, next_message
from vigil.harness import wait_for
from vigil.settings import Settings

pytestmark = pytest.mark.stack

FAMILY = "+8613800000001"


def _smpp(smsc: FakeSmsc) -> SmppProvider:
    return SmppProvider(
        host="127.0.0.1",
        port=smsc.port,
        system_id="vigil",
        password="secret",
        source_addr="10690000",
    )


def test_alert_reaches_live_stream_and_family_sms_and_reply_lands_in_timeline(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path, smsc: FakeSmsc
) -> None:
    seed(conn, contacts=((FAMILY, "zh"), ("+447700900123", "en")))
    book = PolicyBook(policy_dir)
    settings = Settings(escalation_dir=policy_dir)
    with (
        AppServer(settings, adb) as app,
        AlertingThread(adb, book),
        NotifierThread(adb, _smpp(smsc)),
        app.websocket() as ws,
    ):
        snapshot = next_message(ws, lambda m: m["type"] == "snapshot")
        assert snapshot["incidents"] == []
        pressed = time.time()
        raise_alert(
            conn, device="pb-1", kind="panic", severity=4, ts=datetime.fromtimestamp(pressed, UTC)
        )
        message = next_message(ws, lambda m: m["type"] == "incident")
        received = time.time()
        incident = message["incident"]
        assert (incident["cause"], incident["state"], incident["household_id"]) == (
            "panic",
            "new",
            "h1",
        )
        assert message["last"]["action"] == "open"
        assert received - pressed < 5.0  # generous: speed is measured by bench-latency

        texts = wait_for(lambda: smsc.texts_to(FAMILY), what="the family SMS")
        assert texts == ["【Vigil】幸福路8号3号楼502紧急呼叫，社区正在处理。收到请回复1"]
        english = wait_for(lambda: smsc.texts_to("+447700900123"), what="the English SMS")
        assert english[0].startswith("[Vigil] Emergency call at 幸福路8号3号楼 502")

        iid = incident["id"]
        wait_for(
            lambda: _statuses(conn, iid, "family_alarm") == {"delivered"},
            what="the delivery receipts",
        )

        smsc.send_mo(FAMILY, "收到")
        ack = next_message(
            ws,
            lambda m: m["type"] == "incident" and (m["last"] or {}).get("action") == "family_ack",
        )
        assert ack["last"]["actor"] == f"sms:{FAMILY}"
        assert ack["last"]["note"] == "收到"

        store.act(
            conn,
            incident_id=iid,
            action=Action.RESOLVE,
            actor="op1",
            now=datetime.now(UTC),
            book=book,
            note="resident fine",
        )
        next_message(ws, lambda m: m["type"] == "incident" and m["incident"]["state"] == "resolved")
        closing = wait_for(lambda: smsc.texts_to(FAMILY)[1:], what="the closing SMS")
        assert closing == ["【Vigil】幸福路8号3号楼502的紧急呼叫已处理完毕。"]
        hops = wait_for(
            lambda: store.load(conn, iid).hops if "pushed" in store.load(conn, iid).hops else None,
            what="the pushed hop",
        )
        assert hops["device"] <= hops["committed"] <= hops["pushed"]
    assert len(smsc.texts_to(FAMILY)) == 2


def _statuses(conn: psycopg.Connection[Any], iid: int, kind: str) -> set[str]:
    rows = conn.execute(
        "select status from notification_outbox where incident_id = %s and kind = %s",
        (iid, kind),
    ).fetchall()
    return {r[0] for r in rows}
