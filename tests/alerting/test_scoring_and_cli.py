"""The monthly responder report, the SSE stream, the settings and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from alerting import store
from alerting.lifecycle import Action
from alerting.policies import PolicyBook
from alerting.scoring import month_bounds, report
from alerting.triage import triage_pending
from tests.alerting.fix_alerting import FAST_POLICY, T0, raise_alert, seed
from tests.alerting.running import AppServer
from vigil.cli import app
from vigil.settings import Settings


def test_month_bounds() -> None:
    assert month_bounds("2026-12") == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    with pytest.raises(ValueError, match="2026-11"):
        month_bounds("November")


@pytest.mark.stack
def test_scores_per_grid_member_and_department(
    conn: psycopg.Connection[Any], policy_dir: Path
) -> None:
    member = seed(conn)
    book = PolicyBook(policy_dir)
    outcomes = [(Action.RESOLVE, 10, 60), (Action.FALSE_ALARM, 20, 120), (Action.RESOLVE, 30, 180)]
    for n, (outcome, ack_s, arrive_s) in enumerate(outcomes):
        raise_alert(conn, kind="panic", device="pb-1")
        opened = T0 + timedelta(hours=n)
        [iid] = triage_pending(conn, book, now=opened)
        steps = [
            (Action.ACKNOWLEDGE, ack_s),
            (Action.DISPATCH, ack_s + 5),
            (Action.ARRIVE, ack_s + 5 + arrive_s),
            (outcome, ack_s + 600),
        ]
        for action, at in steps:
            store.act(
                conn,
                incident_id=iid,
                action=action,
                actor="op",
                book=book,
                now=opened + timedelta(seconds=at),
            )
    raise_alert(conn, kind="battery_low", signal="trouble", severity=1)
    [unassigned] = triage_pending(conn, book, now=T0 + timedelta(hours=5))
    store.act(
        conn,
        incident_id=unassigned,
        action=Action.RESOLVE,
        actor="op",
        book=book,
        now=T0 + timedelta(hours=6),
    )
    start, end = month_bounds("2026-11")
    result = report(conn, start=start, end=end)
    by_name = {s.name: s for s in result.responders}
    gm = by_name["gm-g1"]
    assert (gm.incidents, gm.ack_p50_s, gm.arrive_p50_s) == (3, 20.0, 120.0)
    assert gm.resolution_rate == pytest.approx(2 / 3, abs=1e-3)
    assert gm.false_alarm_rate == pytest.approx(1 / 3, abs=1e-3)
    assert by_name["unassigned"].incidents == 1
    assert {s.name for s in result.departments} == {"street-a", "unassigned"}
    assert member > 0
    assert report(conn, start=end, end=end + timedelta(days=30)).responders == []


@pytest.mark.stack
def test_sse_stream_sends_a_snapshot_then_changes(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path
) -> None:
    import urllib.request

    seed(conn)
    with AppServer(Settings(escalation_dir=policy_dir), adb) as server:
        with urllib.request.urlopen(server.url + "/api/live/sse?grid_id=g1", timeout=10) as resp:
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            assert resp.readline() == b"event: snapshot\n"
            snapshot = json.loads(resp.readline().removeprefix(b"data: "))
            assert snapshot["incidents"] == []
            resp.readline()
            raise_alert(conn, kind="panic", device="pb-1")
            triage_pending(conn, PolicyBook(policy_dir), now=datetime.now(UTC))
            line = resp.readline()
            change = json.loads(line.removeprefix(b"data: "))
            assert change["type"] == "incident"
            assert change["incident"]["grid_id"] == "g1"
        with urllib.request.urlopen(server.url + "/api/health", timeout=5) as health:
            assert json.loads(health.read()) == {"live": True}


REAL: dict[str, Any] = {
    "database_url": SecretStr("postgresql://x"),
    "mqtt_password": SecretStr("real-1"),
    "secret_key": SecretStr("real-2"),
}


def test_production_refuses_placeholder_sms_secrets() -> None:
    with pytest.raises(ValueError, match="VIGIL_SMPP_PASSWORD still holds a placeholder"):
        Settings(
            env="production",
            **REAL,
            sms_provider="smpp",
        )
    with pytest.raises(ValueError, match="VIGIL_SMS_HTTP_AUTH_TOKEN"):
        Settings(
            env="production",
            **REAL,
            sms_provider="http",
        )
    ok = Settings(
        env="production",
        **REAL,
        sms_provider="smpp",
        smpp_password=SecretStr("s3cret"),
    )
    assert ok.sms_provider == "smpp"


def test_check_policy_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    good = tmp_path / "fast.toml"
    good.write_text(FAST_POLICY, encoding="utf-8")
    result = runner.invoke(app, ["alerting", "check-policy", str(good)])
    assert result.exit_code == 0
    assert "grid → community → street → fire_service" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text(
        FAST_POLICY.replace('start_tier = "community"', 'start_tier = "mayor"'), encoding="utf-8"
    )
    result = runner.invoke(app, ["alerting", "check-policy", str(bad)])
    assert result.exit_code == 1
    assert "unknown tier 'mayor'" in result.output
