"""Families' replies in the timeline, and the live hub's fan-out rules."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from alerting import store
from alerting.lifecycle import Action
from alerting.outbox import record_inbound
from alerting.policies import PolicyBook
from alerting.sms.base import Inbound
from alerting.triage import triage_pending
from console import live
from console.live_scope import DISTRICT, Audience, LiveScope
from tests.alerting.fix_alerting import raise_alert, seed

FAMILY = "+8613800000001"


@pytest.mark.stack
def test_replies_land_on_the_incident_the_phone_was_told_about(
    conn: psycopg.Connection[Any], policy_dir: Path
) -> None:
    seed(conn)
    raise_alert(conn, kind="panic", device="pb-1")
    now = datetime.now(UTC)
    [iid] = triage_pending(conn, PolicyBook(policy_dir), now=now)
    later = now + timedelta(minutes=1)

    def reply(sender: str, body: str, pid: str | None) -> str:
        return record_inbound(conn, "smpp", Inbound(sender, "10690000", body, pid), now=later)

    assert reply("8613800000001", "收到", "mo-1") == "acknowledged"  # no "+": same number
    assert reply(FAMILY, "收到", "mo-1") == "duplicate"
    assert reply(FAMILY, "谁打来的？", "mo-2") == "reply"
    assert reply("+8613999999999", "1", "mo-3") == "no_incident"
    timeline = store.get_detail(conn, iid).timeline
    family = [(t["action"], t["actor"], t["note"]) for t in timeline if t["actor"] != "system"]
    assert family == [
        ("family_ack", "sms:8613800000001", "收到"),
        ("family_reply", f"sms:{FAMILY}", "谁打来的？"),
    ]
    outcomes = conn.execute("select outcome from sms_inbound order by id").fetchall()
    assert [o[0] for o in outcomes] == ["acknowledged", "reply", "no_incident"]
    stale = record_inbound(
        conn, "smpp", Inbound(FAMILY, "x", "1", "mo-4"), now=now + timedelta(days=2)
    )
    assert stale == "no_incident"


@pytest.mark.stack
def test_dispatch_tells_the_assigned_grid_member(
    conn: psycopg.Connection[Any], policy_dir: Path
) -> None:
    member = seed(conn)
    book = PolicyBook(policy_dir)
    raise_alert(conn, kind="panic", device="pb-1")
    now = datetime.now(UTC)
    [iid] = triage_pending(conn, book, now=now)
    conn.execute("delete from notification_outbox")
    store.act(conn, incident_id=iid, action=Action.DISPATCH, actor="op", now=now, book=book)
    rows = conn.execute(
        "select channel, recipient, user_id from notification_outbox order by channel"
    ).fetchall()
    assert rows == [("grid_member", "gm-g1", member), ("sms", "+8613700000001", member)]


def _message(grid: str | None) -> live.Message:
    audience = Audience(grid_id=grid) if grid else DISTRICT
    return live.Message(text="{}", audience=audience, incident_id=1)


def test_fan_out_filters_by_grid_and_cuts_off_a_slow_subscriber(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live, "QUEUE_LIMIT", 3)

    async def scenario() -> None:
        hub = live.LiveHub("postgresql://unused")
        everyone = hub.subscribe(LiveScope(user_id=1, confined_to=None))
        grid_a = hub.subscribe(LiveScope(user_id=2, confined_to="a"))
        hub._fan_out(_message("b"))
        assert everyone.queue.qsize() == 1
        assert grid_a.queue.qsize() == 0
        hub._fan_out(_message(None))  # the district's own news: its staff only
        assert grid_a.queue.qsize() == 0
        hub._fan_out(_message("a"))
        assert grid_a.queue.qsize() == 1
        everyone.queue.get_nowait()
        for _ in range(2):
            hub._fan_out(_message("b"))
        assert everyone.queue.full()
        hub._fan_out(_message("b"))  # one too many: cut off, told to reconnect
        assert everyone not in hub._subscribers
        drained = [everyone.queue.get_nowait() for _ in range(everyone.queue.qsize())]
        assert drained[-1] is None
        assert grid_a in hub._subscribers

    asyncio.run(scenario())
