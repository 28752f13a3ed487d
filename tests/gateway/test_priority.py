"""Alarms overtake telemetry: a panic press under a telemetry flood still arrives at once."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable

import pytest

from tests.gateway.conftest import Account, GatewayProcess, Subscriber, press
from vigil.codec import EventBatch
from vigil.frames import Frame, encode_frame
from vigil.harness import wait_for
from vigil.topics import TopicKind

PRESSES = 20


@pytest.mark.stack
def test_a_panic_press_overtakes_a_telemetry_flood(
    account: Callable[[], Account],
    subscriber: Callable[[str], Subscriber],
    gateway: Callable[..., GatewayProcess],
) -> None:
    acc = account()
    sub = subscriber(f"vigil/v1/+/{acc.gateway_id}/up/#")
    gw = gateway(acc)
    stop = threading.Event()

    def flood() -> None:
        dev = gw.device()
        packets = [
            encode_frame(
                Frame(dev=f"sd-{i % 200}", type="smoke", seq=i, ts=time.time(),
                      r={"smoke_obscuration": 0.1, "temperature": 21.0, "battery": 3.0})
            )
            for i in range(5000)
        ]  # fmt: skip
        while not stop.is_set():
            for packet in packets:
                dev.send_raw(packet)  # blocks when the gateway falls behind

    flooder = threading.Thread(target=flood, daemon=True)
    flooder.start()
    button = gw.device()
    sent: dict[int, float] = {}
    try:
        wait_for(lambda: len(sub.snapshot()) > 20, 10, "the flood to reach the subscriber")
        for seq in range(PRESSES):
            sent[seq] = time.time()
            button.send(press("pb-1", seq))
            time.sleep(0.1)
        wait_for(lambda: len(_arrivals(sub)) == PRESSES, 10, "every press")
    finally:
        stop.set()
        flooder.join(timeout=10)
    arrivals = _arrivals(sub)
    latencies = sorted(arrivals[seq] - sent[seq] for seq in sent)
    telemetry = sum(1 for m in sub.snapshot() if m.kind is TopicKind.TELEMETRY)
    print(  # shown with -s; speed figures belong to `make bench-gateway`
        f"panic latency under flood ({telemetry} telemetry messages): "
        f"median {statistics.median(latencies) * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
    )
    assert telemetry > 20
    assert latencies[-1] < 1.0  # a generous bound; the common case is milliseconds


def _arrivals(sub: Subscriber) -> dict[int, float]:
    found = {}
    for m in sub.snapshot():
        if m.kind is TopicKind.EVENT:
            batch = m.uplink()
            assert isinstance(batch, EventBatch)
            for e in batch.events:
                found[e.seq] = m.at
    return found
