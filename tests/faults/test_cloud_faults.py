"""Faults of the Chinese cloud providers, in simulated time (the notifier and the loopback
provider share a clock): Alibaba Cloud SMS throttling the account for a minute, the voice
service down. Nothing is lost, nothing is sent twice, and the rest keeps moving."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from alerting.notifier import Notifier, notification_backoff
from alerting.policies import PolicyBook
from alerting.sms.demo import DemoProvider
from alerting.triage import triage_pending
from tests.alerting.fix_alerting import (
    FAST_POLICY,
    adb,
    conn,
    policy_dir,
    raise_alert,
    seed,
)
from tests.alerting.fix_cloud import FakeAliyun, aliyun
from tests.alerting.fix_webhook import Receiver, receiver
from tests.alerting.test_cloud_channels import FAMILY_CALL, _aliyun_sms, _voice
from tests.alerting.test_webhooks_out import subscribe

__all__ = ["adb", "aliyun", "conn", "policy_dir", "receiver"]

pytestmark = [pytest.mark.faults, pytest.mark.stack]


class SimClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)
        self.start = self.now

    def __call__(self) -> datetime:
        return self.now

    def seconds(self) -> float:
        return (self.now - self.start).total_seconds()


def _run(notifier: Notifier, clock: SimClock, *, until_s: float, step_s: float = 1.0) -> None:
    async def drive() -> None:
        while clock.seconds() < until_s:
            await notifier.round()
            clock.now += timedelta(seconds=step_s)

    asyncio.run(drive())


def _open(conn: psycopg.Connection[Any], policies: Path, now: datetime, n: int) -> list[int]:
    ids = []
    for i in range(n):
        seed(conn, household=f"h{i}", contacts=((f"+86138000001{i:02d}", "zh"),))
        raise_alert(conn, household=f"h{i}", kind="panic", device=f"pb-{i}", severity=5)
        ids += triage_pending(conn, PolicyBook(policies), now=now)
    return ids


def test_sms_throttled_for_a_minute_delays_and_loses_nothing(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path, aliyun: FakeAliyun
) -> None:
    clock = SimClock()
    aliyun.clock = clock.seconds
    aliyun.throttle_for(60)
    iids = _open(conn, policy_dir, clock.now, 3)
    backoff = notification_backoff(maximum=10.0)
    notifier = Notifier(adb, _aliyun_sms(aliyun), backoff=backoff, clock=clock)
    _run(notifier, clock, until_s=59)
    assert aliyun.sent == [], "nothing gets through while the account is throttled"
    delayed = conn.execute(
        "select count(*) from incident_timeline where action = 'notification_delayed' "
        "and note like %s",
        ("%Throttling.User%",),
    ).fetchone()
    assert delayed is not None
    assert delayed[0] >= 1, "the reason is on the timeline"
    _run(notifier, clock, until_s=90)
    rows = conn.execute(
        "select recipient, status from notification_outbox where channel = 'sms' "
        "and incident_id = any(%s)",
        (iids,),
    ).fetchall()
    assert rows
    assert all(status == "sent" for _, status in rows), rows
    keys = [s.ref for s in aliyun.sent]  # OutId: our outbox key, one per message
    assert len(keys) == len(set(keys)), "each message once"
    assert len(keys) == len(rows), "every message"


def test_voice_down_retries_the_call_and_sms_keeps_going(
    adb: str, conn: psycopg.Connection[Any], tmp_path: Path, aliyun: FakeAliyun
) -> None:
    policies = tmp_path / "p"
    policies.mkdir()
    text = FAST_POLICY.replace("sms_min_severity = 1\n", "sms_min_severity = 1\n" + FAMILY_CALL)
    (policies / "fast.toml").write_text(text, encoding="utf-8")
    clock = SimClock()
    aliyun.clock = clock.seconds
    aliyun.voice_down = True
    [iid] = _open(conn, policies, clock.now, 1)
    notifier = Notifier(
        adb,
        _aliyun_sms(aliyun),
        backoff=notification_backoff(maximum=10.0),
        clock=clock,
        voice=_voice(aliyun),
    )
    _run(notifier, clock, until_s=30)
    assert any(s.phone == "13800000100" for s in aliyun.sent), "the SMS went out meanwhile"
    assert aliyun.calls == []
    call = conn.execute(
        "select status, attempts, last_error from notification_outbox where incident_id = %s "
        "and channel = 'voice'",
        (iid,),
    ).fetchone()
    assert call is not None
    assert call[0] == "pending"
    assert call[1] >= 2
    assert "ServiceUnavailable" in call[2]
    aliyun.voice_down = False
    _run(notifier, clock, until_s=60)
    assert len(aliyun.calls) == 1, "placed once the service is back, and only once"
    actions = [
        a
        for (a,) in conn.execute(
            "select action from incident_timeline where incident_id = %s order by at, id", (iid,)
        ).fetchall()
    ]
    assert actions.index("sms_sent") < actions.index("notification_delayed")
    assert actions.count("call_placed") == 1


def test_a_webhook_subscriber_down_for_ten_minutes_loses_nothing_and_gets_nothing_twice(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path, receiver: Receiver
) -> None:
    clock = SimClock()
    receiver.clock = clock.seconds
    receiver.down_until = 600.0
    subscribe(conn, receiver.url)
    _open(conn, policy_dir, clock.now, 3)
    queued = conn.execute("select count(*) from webhook_outbox").fetchone()
    assert queued is not None
    assert queued[0] == 3
    notifier = Notifier(adb, DemoProvider(adb), clock=clock)
    _run(notifier, clock, until_s=599, step_s=5)
    assert receiver.received == [], "nothing is taken while the subscriber is down"
    # In order: the oldest is retried (2 s doubling to 60 s: about 14 times in 10 minutes),
    # the others wait behind it.
    assert receiver.refused_while_down >= 10, "the oldest delivery was tried again and again"
    _run(notifier, clock, until_s=700, step_s=5)
    ids = receiver.delivery_ids()
    assert len(ids) == 3, "every event delivered once it is back"
    assert len(set(ids)) == 3, "nothing twice"
    waited = conn.execute(
        "select max(delivered_at) from webhook_outbox where status = 'delivered'"
    ).fetchone()
    assert waited is not None
    late = (waited[0] - clock.start).total_seconds()
    assert 600 <= late <= 600 + 65, f"delivered {late:.0f} s in: within a backoff cap of return"
