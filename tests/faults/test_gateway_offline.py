"""A gateway offline for 10 minutes of simulated time: its link is cut while its devices go on
reporting (their clock runs 60x, so 10 simulated minutes take 10 s) and two panic buttons are
pressed. The backlog waits in the gateway's disk queue; when the link returns the gateway
replays it, events first, and every reading and alarm lands once with its device time."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import Pipeline, SimClock
from vigil.harness import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.faults]

OFFLINE_S = 600.0  # simulated
SPEED = 60.0


def test_ten_minutes_offline_with_a_backlog_loses_nothing_and_doubles_nothing(
    pipeline: Pipeline,
) -> None:
    feeder = pipeline.feeder
    feeder.start(period=1.0)  # one report per device per second of device time ...
    feeder.press()
    wait_for(lambda: pipeline.books().panic_incidents == 1, 60, "the first incident")
    feeder.stop()
    before = pipeline.books().readings
    pipeline.uplink.cut()
    clock = SimClock(OFFLINE_S, SPEED)  # ... the devices' ten minutes, from 10 minutes ago
    feeder.clock = clock
    began = time.time()
    feeder.start(period=1.0 / SPEED)
    time.sleep(3)
    feeder.press()
    wait_for(clock.caught_up, 60, "ten simulated minutes")
    feeder.press()
    feeder.stop()
    backlog = feeder.sent_readings - before
    assert pipeline.books().readings <= before + 5, "the link really was down"
    pipeline.uplink.restore()
    feeder.clock = time.time
    feeder.start()
    time.sleep(1)
    feeder.stop()
    books = pipeline.settle()
    assert books.panic_incidents == 3
    assert backlog >= 5000, backlog
    span = pipeline.one(
        "select extract(epoch from max(time) - min(time)) from readings where time >= "
        "to_timestamp(%s)",
        clock.start,
    )
    assert float(span) >= OFFLINE_S - 10, "the backlog keeps its device times"
    print(f"offline backlog: {backlog} readings over {time.time() - began:.1f} s")
