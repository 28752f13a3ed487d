"""Cooking smoke is on the board and told to nobody; a fire alarm joining it is told at once;
a hush is a comment on an open fire incident's timeline and opens nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest

from alerting import store
from alerting.correlate import board_only
from alerting.policies import PolicyBook
from alerting.triage import triage_pending
from tests.alerting.fix_alerting import T0, raise_alert, seed

pytestmark = pytest.mark.stack


def _outbox(conn: psycopg.Connection[Any], incident_id: int) -> list[tuple[Any, ...]]:
    return conn.execute(
        "select kind, channel from notification_outbox where incident_id = %s", (incident_id,)
    ).fetchall()


def test_board_only_sources() -> None:
    assert board_only(["sd-1:cooking"])
    assert board_only(["sd-1:cooking", "sd-1:hush"])
    assert not board_only(["sd-1:cooking", "sd-1:fire"])
    assert not board_only(["sd-1:hush"])
    assert not board_only([])


def test_cooking_smoke_opens_a_quiet_incident_until_a_fire_alarm_joins(conn, policy_dir):
    seed(conn)
    book = PolicyBook(policy_dir)
    raise_alert(conn, kind="cooking", signal="supervisory", severity=2, ts=T0)
    [incident] = triage_pending(conn, book, now=T0)
    row = store.load(conn, incident)
    assert (row.cause, row.signal) == ("fire", "supervisory")
    assert _outbox(conn, incident) == []
    assert store.get_detail(conn, incident).timers == []
    raise_alert(conn, kind="fire", severity=4, ts=T0 + timedelta(seconds=30))
    [joined] = triage_pending(conn, book, now=T0 + timedelta(seconds=30))
    assert joined == incident
    row = store.load(conn, incident)
    assert (row.signal, row.severity) == ("alarm", 4)
    kinds = {k for k, _ in _outbox(conn, incident)}
    assert {"responder", "family_alarm"} <= kinds
    assert [t["stage"] for t in store.get_detail(conn, incident).timers] == ["acknowledge"]


def test_a_hush_is_a_timeline_comment_and_opens_nothing(conn, policy_dir):
    seed(conn)
    book = PolicyBook(policy_dir)
    raise_alert(conn, kind="hush", signal="supervisory", severity=1, ts=T0)
    assert triage_pending(conn, book, now=T0) == []
    raise_alert(conn, kind="fire", severity=4, ts=T0)
    [incident] = triage_pending(conn, book, now=T0)
    raise_alert(conn, kind="hush", signal="supervisory", severity=1, ts=T0 + timedelta(seconds=5))
    triage_pending(conn, book, now=T0 + timedelta(seconds=5))
    row = store.load(conn, incident)
    assert (row.signal, row.severity) == ("alarm", 4)
    entries = store.get_detail(conn, incident).timeline
    assert any(
        t.get("code") == "tl.comment" and (t.get("params") or {}).get("kind") == "hush"
        and (t.get("params") or {}).get("device") == "sd-1"
        for t in entries
    )  # fmt: skip
