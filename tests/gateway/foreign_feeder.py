"""A foreign adapter in a process of its own, for the kill-and-restart test.

Feeds a fixed sequence of device snapshots through the state tracker into a Bridge. Before each
step it appends the step's index to a log, so a restarted feeder knows where the hub was: it
first replays the latest snapshot of every device (as a hub's retained messages would), then
goes on with the steps not yet fed. At the end it waits for every emit to be acknowledged.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import Future
from pathlib import Path

from gateway.bridge import Bridge, BridgeConfig
from gateway.foreign_state import ForeignState
from gateway.link import BrokerConfig

DEVICES = 4


def snapshot(step: int) -> tuple[str, dict[str, float | bool]]:
    """Step i changes device i % 4: smoke toggles every visit, tamper every second one."""
    dev = f"zb-{step % DEVICES}"
    visit = step // DEVICES
    return dev, {
        "smoke_alarm": visit % 2 == 0,
        "tamper": (visit // 2) % 2 == 0,
        "availability": 1.0,
        "battery": 90,  # not a state: ignored
    }


def main() -> None:
    workdir, port, user, password, steps, pause = sys.argv[1:7]
    work = Path(workdir)
    queue = work / "bridge.queue.sqlite"
    log_path = work / "steps.log"
    done = [int(x) for x in log_path.read_text().split()] if log_path.exists() else []
    tracker = ForeignState(queue)
    bridge = Bridge(
        BridgeConfig(
            gateway_id=user,
            site="test-site",
            queue_path=queue,
            broker=BrokerConfig("127.0.0.1", int(port), user, password, f"vigil-gw-{user}"),
            status_interval_s=0.5,
        )
    )
    bridge.start()
    futures: list[Future[int]] = []

    def feed(step: int) -> None:
        dev, snap = snapshot(step)
        change = tracker.changes(dev, snap, time.time(), detail={"source": "test"})
        futures.append(bridge.emit(change.events, state=[change]))

    latest = {snapshot(s)[0]: s for s in done}
    for step in sorted(latest.values()):
        feed(step)  # the hub's retained state, replayed on (re)connect
    with log_path.open("a") as log:
        for step in range(len(done), int(steps)):
            log.write(f"{step}\n")
            log.flush()
            feed(step)
            time.sleep(float(pause))
    for f in futures:
        f.result(timeout=30)
    bridge.stop()
    os._exit(0)


if __name__ == "__main__":
    main()
