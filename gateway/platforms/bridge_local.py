"""A stand-in for the shared core's embeddable bridge (gateway/bridge.py, issue 17), built on
Vigil's own gateway: its disk queue, gseq, events-first lane, status and last will.

`emit` and `read` may be called from any thread: they hand the work to the gateway's loop
(through its wake-up pipe) and `emit`'s future resolves once the broker acknowledged the
message (PUBACK) that carries the events. Replace with `gateway.bridge.Bridge` when it lands.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from concurrent.futures import Future

from gateway.platforms.state import ReadingRow
from gateway.queue import Lane, QueueFullError
from gateway.service import Gateway, GatewayConfig
from vigil.codec import Event, EventBatch, TelemetryBatch, encode

MAX_READINGS = 1000


class _Gateway(Gateway):
    def __init__(self, config: GatewayConfig) -> None:
        super().__init__(config)
        self.inbox: deque[tuple[list[Event] | None, list[ReadingRow] | None, Future[None] | None]]
        self.inbox = deque()
        self._waiting: dict[int, Future[None]] = {}  # queue row id -> future

    def wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\1")

    def turn(self, timeout: float) -> None:
        self._take_inbox()
        super().turn(0.0 if self.inbox else timeout)

    def _take_inbox(self) -> None:
        while self.inbox:
            events, readings, future = self.inbox.popleft()
            try:
                if events:
                    row = self._put_events(events)
                    assert future is not None
                    self._waiting[row] = future
                if readings:
                    self._put_readings(readings)
            except QueueFullError as exc:
                if future is not None:
                    future.set_exception(exc)

    def _put_events(self, events: list[Event]) -> int:
        gw = self.config.gateway_id

        def build(gseq: int) -> bytes:
            batch = EventBatch(gw=gw, gseq=gseq, sent=time.time(), events=events)
            return encode(batch, self.config.encoding)

        item = self.queue.put(Lane.EVENT, self._topics[Lane.EVENT], build)
        self._more[Lane.EVENT] = True
        self.counters.devices.update(e.dev for e in events)
        return item.id

    def _put_readings(self, readings: list[ReadingRow]) -> None:
        gw = self.config.gateway_id
        for i in range(0, len(readings), MAX_READINGS):
            part = readings[i : i + MAX_READINGS]

            def build(gseq: int, part: list[ReadingRow] = part) -> bytes:
                batch = TelemetryBatch(
                    gw=gw, gseq=gseq, sent=time.time(), dev=[r.dev for r in part],
                    seq=[r.seq for r in part], ts=[r.ts for r in part], rx=[r.rx for r in part],
                    metric=[r.metric for r in part], value=[r.value for r in part],
                )  # fmt: skip
                return encode(batch, self.config.encoding)

            self.queue.put(Lane.TELEMETRY, self._topics[Lane.TELEMETRY], build)
        self._more[Lane.TELEMETRY] = True
        self.counters.devices.update(r.dev for r in readings)

    def _send(self) -> None:
        acked = list(self.link.acked)
        super()._send()
        for row in acked:
            future = self._waiting.pop(row, None)
            if future is not None and not future.done():
                future.set_result(None)


class LocalBridge:
    """Thread-safe `emit`/`read` on a gateway running in its own thread."""

    def __init__(self, config: GatewayConfig) -> None:
        self._gateway = _Gateway(config)
        self._thread = threading.Thread(target=self._gateway.run, name="bridge", daemon=True)

    @property
    def gateway_id(self) -> str:
        return self._gateway.config.gateway_id

    def start(self) -> None:
        self._thread.start()

    def emit(self, events: list[Event]) -> Future[None]:
        future: Future[None] = Future()
        self._gateway.inbox.append((events, None, future))
        self._gateway.wake()
        return future

    def read(self, readings: list[ReadingRow]) -> None:
        self._gateway.inbox.append((None, readings, None))
        self._gateway.wake()

    @property
    def connected(self) -> bool:
        return self._gateway.link.connected

    def stop(self) -> None:
        self._gateway.stop()
        self._thread.join(timeout=10)
