"""The grid's WeCom group robot: the new incident, its escalation and its dispatch posted as
markdown with a link, through the outbox; throttling retried, an unknown key given up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from alerting.notifier import Notifier, notification_backoff
from alerting.policies import PolicyBook
from alerting.sms.demo import DemoProvider
from alerting.supervisor import fire_due
from alerting.triage import triage_pending
from alerting.wecom import WeComRobot
from console.api import accounts
from console.api.roles import Role
from tests.alerting.fix_alerting import raise_alert, seed
from tests.alerting.fix_wecom import ROBOT_KEY, FakeWeCom
from tests.alerting.running import AppServer, NotifierThread
from vigil.harness import wait_for
from vigil.settings import Settings

pytestmark = pytest.mark.stack


def _notifier(adb: str, robot: FakeWeCom) -> NotifierThread:
    thread = NotifierThread(adb, DemoProvider(adb), backoff=notification_backoff(initial=0.1))
    thread.notifier.robot = WeComRobot(robot.url)
    return thread


def _wecom_rows(conn: psycopg.Connection[Any], iid: int) -> list[tuple[Any, ...]]:
    return conn.execute(
        "select recipient, status, attempts, last_error from notification_outbox "
        "where incident_id = %s and channel = 'wecom' order by id",
        (iid,),
    ).fetchall()


def test_new_and_escalated_incidents_reach_the_grid_group(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path, wecom_robot: FakeWeCom
) -> None:
    seed(conn)
    conn.execute("update grids set wecom_key = %s where id = 'g1'", (ROBOT_KEY,))
    wecom_robot.throttled = 1  # the first post meets the robot's 20-a-minute limit
    raise_alert(conn, kind="panic", device="pb-1", severity=5)
    book = PolicyBook(policy_dir)
    now = datetime.now(UTC)
    [iid] = triage_pending(conn, book, now=now)
    fire_due(conn, book, now=now + timedelta(seconds=10))  # past the acknowledge deadline
    with _notifier(adb, wecom_robot):
        wait_for(lambda: len(wecom_robot.posts) >= 2, what="two robot posts")
    contents = [content for _, content in wecom_robot.posts]
    # The throttled first post is retried after the escalation's went through: order may vary.
    [first] = [c for c in contents if c.startswith("### 【Vigil】新事件")]
    [second] = [c for c in contents if c.startswith("### 【Vigil】事件升级")]
    for part in ("紧急呼叫", "幸福路8号3号楼502", "级别5", f"/incidents/{iid})", "new incident"):
        assert part in first
    for part in ("未及时确认", "escalated", "not acknowledged in time"):
        assert part in second
    assert wecom_robot.refused_format == []
    rows = _wecom_rows(conn, iid)
    assert [r[1] for r in rows] == ["sent", "sent"]
    assert rows[0][2] == 2  # throttled once, then through
    assert ROBOT_KEY not in str(
        conn.execute(
            "select body, recipient from notification_outbox where channel = 'wecom'"
        ).fetchall()
    )


def test_an_unknown_robot_key_is_given_up_with_the_reason(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path, wecom_robot: FakeWeCom
) -> None:
    seed(conn)
    conn.execute("update grids set wecom_key = 'not-a-registered-key' where id = 'g1'")
    raise_alert(conn, kind="panic", device="pb-1", severity=5)
    [iid] = triage_pending(conn, PolicyBook(policy_dir), now=datetime.now(UTC))
    with _notifier(adb, wecom_robot):
        wait_for(lambda: _wecom_rows(conn, iid)[0][1] == "failed", what="the post given up")
    note = conn.execute(
        "select note from incident_timeline where incident_id = %s "
        "and action = 'notification_failed'",
        (iid,),
    ).fetchone()
    assert note is not None
    assert "93000" in note[0]
    assert wecom_robot.posts == []


def test_a_grid_without_a_robot_gets_no_wecom_row(
    conn: psycopg.Connection[Any], policy_dir: Path
) -> None:
    seed(conn)
    raise_alert(conn, kind="panic", device="pb-1", severity=5)
    [iid] = triage_pending(conn, PolicyBook(policy_dir), now=datetime.now(UTC))
    assert _wecom_rows(conn, iid) == []


def test_the_key_is_set_by_a_grid_writer_and_never_read_back(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path
) -> None:
    seed(conn)
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
        url = f"{app.url}/api/grids/g1/wecom"
        put = httpx.put(url, json={"key": ROBOT_KEY}, headers=headers)
        assert put.status_code == 200, put.text
        assert put.json() == {"grid_id": "g1", "configured": True, "key_hint": ROBOT_KEY[-4:]}
        assert ROBOT_KEY not in httpx.get(url, headers=headers).text
        bad = httpx.put(url, json={"key": "x y"}, headers=headers)
        assert bad.status_code == 422
        assert httpx.put(url, json={"key": ROBOT_KEY}).status_code == 401
        assert httpx.delete(url, headers=headers).json()["configured"] is False


def test_the_notifier_posts_with_the_robot_it_was_given(adb: str) -> None:
    notifier = Notifier(adb, DemoProvider(adb), robot=WeComRobot("http://127.0.0.1:9"))
    assert notifier.robot.name == "wecom"
