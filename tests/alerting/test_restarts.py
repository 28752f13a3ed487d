"""The services as separate processes, killed (SIGKILL) at awkward moments.

- `vigil alerting run` killed while an escalation timer runs: the timer still fires on time.
- A timer that ran out while the service was down fires at once on its restart.

The carrier down for a minute with the notifier killed in the middle is
tests/faults/test_sms_errors.py, through the whole pipeline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from alerting.policies import PolicyBook
from alerting.triage import triage_pending
from tests.alerting.fix_alerting import raise_alert, seed
from vigil.harness import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.faults]


def _env(dsn: str, policy_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        VIGIL_CONFIG=str(policy_dir / "absent.toml"),
        VIGIL_DATABASE_URL=dsn,
        VIGIL_ESCALATION_DIR=str(policy_dir),
        **extra,
    )
    return env


@contextmanager
def _service(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vigil.cli", *args], env=env, stdout=out, stderr=out
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _ready(log: Path, text: str, count: int = 1) -> bool:
    return log.exists() and log.read_text(errors="replace").count(text) >= count


def test_a_timer_fires_on_time_across_a_restart(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path, tmp_path: Path
) -> None:
    seed(conn)
    env = _env(adb, policy_dir)
    log = tmp_path / "alerting.log"
    with _service(["alerting", "run"], env, log) as first:
        wait_for(lambda: _ready(log, "alerting service ready"), what="the service")
        # Severity 3 in the fast policy: acknowledge within 10 s.
        raise_alert(conn, kind="inactivity", signal="supervisory", severity=3, device="pir-1")
        opened = wait_for(
            lambda: conn.execute("select id, opened_at from incidents").fetchone(),
            what="the incident",
        )
        first.kill()
        first.wait()
    iid, opened_at = opened
    [(due_at,)] = conn.execute(
        "select due_at from escalation_timers where incident_id = %s", (iid,)
    ).fetchall()
    assert due_at == opened_at + timedelta(seconds=10)
    with _service(["alerting", "run"], env, log):
        wait_for(lambda: _ready(log, "alerting service ready", 2), what="the restart")
        assert datetime.now(UTC) < due_at, "restart took longer than the deadline"
        fired = wait_for(
            lambda: conn.execute(
                "select fired_at from escalation_timers where incident_id = %s "
                "and fired_at is not null",
                (iid,),
            ).fetchall(),
            timeout=20,
            what="the escalation",
        )
    [(fired_at,)] = fired
    late = (fired_at - due_at).total_seconds()
    print(f"escalation fired {late * 1000:.1f} ms after its deadline, across a SIGKILL")
    assert 0 <= late < 1.0, f"fired {late:.3f} s after its deadline"
    escalations = conn.execute(
        "select count(*) from incident_timeline where incident_id = %s and action = 'escalate'",
        (iid,),
    ).fetchone()
    assert escalations is not None
    assert escalations[0] == 1


def test_a_timer_that_ran_out_while_down_fires_at_once_on_restart(
    adb: str, conn: psycopg.Connection[Any], policy_dir: Path, tmp_path: Path
) -> None:
    seed(conn)
    raise_alert(conn, kind="panic", device="pb-1", severity=4)  # acknowledge within 2 s
    [iid] = triage_pending(conn, PolicyBook(policy_dir), now=datetime.now(UTC))
    time.sleep(2.5)
    log = tmp_path / "alerting.log"
    started = datetime.now(UTC)
    with _service(["alerting", "run"], _env(adb, policy_dir), log):
        fired = wait_for(
            lambda: conn.execute(
                "select fired_at from escalation_timers where incident_id = %s "
                "and fired_at is not null order by id limit 1",
                (iid,),
            ).fetchone(),
            timeout=20,
            what="the overdue escalation",
        )
    assert (fired[0] - started).total_seconds() < 10
