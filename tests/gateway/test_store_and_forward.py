"""Store and forward: nothing is lost while the broker is away, and a full queue gives up only
the oldest telemetry."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable

import pytest

from gateway.queue import DiskQueue, Lane
from tests.gateway.conftest import Account, GatewayProcess, Subscriber, press, report
from tests.gateway.test_gateway_flow import events_of, readings_of
from vigil.codec import EventBatch, TelemetryBatch, decode_events, decode_telemetry
from vigil.frames import Frame
from vigil.harness import free_port, wait_for
from vigil.stack import LocalStack

# The issue says 30 s; 12 s does the same to the gateway: its reconnect backoff reaches its
# 5 s cap (gateway/link.py, vigil.backoff) after about 6 s, so it tries again at the cap, while
# the feeder's frames (hundreds of readings a second) wait in the disk queue.
OUTAGE_S = 12.0


class Feeder(threading.Thread):
    """Three detectors reporting every 10 ms and a panic button pressed twice a second."""

    def __init__(self, gw: GatewayProcess) -> None:
        super().__init__(daemon=True)
        self.gw = gw
        self.sent: list[Frame] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        detectors = [self.gw.device() for _ in range(3)]
        button = self.gw.device()
        seq = 0
        while not self.stopping.is_set():
            for i, dev in enumerate(detectors):
                frame = report(f"sd-{i}", seq, temperature=20 + (seq % 50) / 10, battery=3.0)
                dev.send(frame)
                self.sent.append(frame)
            if seq % 50 == 0:
                frame = press("pb-0", seq // 50)
                button.send(frame)
                self.sent.append(frame)
            seq += 1
            time.sleep(0.01)

    def readings(self) -> list[tuple[str, int, str, float]]:
        return [
            (f.dev, f.seq, metric, value) for f in self.sent if f.r for metric, value in f.r.items()
        ]

    def events(self) -> list[tuple[str, int, str, float]]:
        return [(f.dev, f.seq, "button", 1.0) for f in self.sent if f.e]


@pytest.mark.stack
@pytest.mark.faults
def test_a_broker_outage_loses_nothing_and_repeats_nothing(
    account: Callable[[], Account],
    subscriber: Callable[[str], Subscriber],
    gateway: Callable[..., GatewayProcess],
    stack: LocalStack,
) -> None:
    acc = account()
    sub = subscriber(f"vigil/v1/+/{acc.gateway_id}/#")
    gw = gateway(acc)
    feeder = Feeder(gw)
    feeder.start()
    try:
        time.sleep(2)
        stack.stop_mqtt()
        outage_began = time.time()
        time.sleep(OUTAGE_S)
        stack.start_mqtt()
        time.sleep(2)
    finally:
        feeder.stopping.set()
        feeder.join()
        if not stack.status()["mqtt"]["running"]:
            stack.start_mqtt()
    expected = feeder.readings()
    wait_for(lambda: len(readings_of(sub.uplinks())) >= len(expected), 60, "every reading")
    wait_for(lambda: len(events_of(sub.uplinks())) >= len(feeder.events()), 10, "every event")
    time.sleep(0.5)  # a late duplicate would show up here

    batches = sub.uplinks()
    received = readings_of(batches)
    assert len(received) == len(expected)
    assert Counter(received) == Counter(expected)
    assert events_of(batches) == feeder.events()  # all presses, in order, once
    gseqs = [b.gseq for b in batches]
    assert len(set(gseqs)) == len(gseqs), "a message arrived twice"
    by_device: dict[str, list[int]] = defaultdict(list)
    for dev, seq, _, _ in received:
        by_device[dev].append(seq)
    for dev, seqs in by_device.items():
        assert seqs == sorted(seqs), f"{dev} out of order"
    # The gateway really held a backlog on disk: its status after the outage said so.
    after = [s for s in sub.statuses() if s.ts > outage_began and s.state == "online"]
    assert max(s.queue_depth for s in after) > 0
    assert after[-1].dropped_telemetry == 0


@pytest.mark.stack
def test_a_full_queue_drops_the_oldest_telemetry_never_an_event(
    account: Callable[[], Account],
    subscriber: Callable[[str], Subscriber],
    gateway: Callable[..., GatewayProcess],
) -> None:
    acc = account()
    # No broker at this port: everything stays in the queue, bounded to 20 messages.
    opts = ("--batch-readings", "10", "--batch-ms", "5000", "--queue-max-rows", "20")
    gw = gateway(acc, *opts, port=free_port())
    dev = gw.device()
    for seq in range(300):  # 600 readings: 60 telemetry messages
        dev.send(report("sd-1", seq, temperature=21.0, battery=3.0))
        if seq % 60 == 0:
            dev.send(press("pb-1", seq))
    dev.send(report("sentinel", 0, humidity=1.0))  # refused, after every frame before it
    wait_for(lambda: "sentinel: unknown metric" in gw.log(), 10, "the sentinel's refusal")
    assert gw.stop() == 0

    q = DiskQueue(gw.queue_path)
    events = q.pending(Lane.EVENT, 0, 100)
    telemetry = q.pending(Lane.TELEMETRY, 0, 100)
    q.close()
    presses = [e.seq for item in events for e in decode_events(item.payload).events]
    assert presses == [0, 60, 120, 180, 240]
    assert len(events) + len(telemetry) == 20
    kept = [decode_telemetry(item.payload) for item in telemetry]
    kept_seqs = [s for batch in kept for s in batch.seq]
    assert kept_seqs == sorted(kept_seqs)
    assert kept_seqs[-1] == 299  # the newest telemetry is kept ...
    assert kept_seqs[0] == 300 - 5 * len(telemetry)  # ... and only the oldest was dropped
    dropped = 60 - len(telemetry)

    # With the broker back, the queue replays events first, and the status owns up to the drops.
    sub = subscriber(f"vigil/v1/+/{acc.gateway_id}/#")
    gw.args[gw.args.index("--mqtt-port") + 1] = str(sub.client.port)
    gw.start()
    wait_for(lambda: len(sub.uplinks()) == 20, 10, "the 20 queued messages")
    batches = sub.uplinks()
    kinds = [type(b) for b in batches]
    assert kinds == [EventBatch] * len(events) + [TelemetryBatch] * len(telemetry)
    wait_for(lambda: bool(sub.statuses()), 5, "a status")
    assert sub.statuses()[-1].dropped_telemetry == dropped
