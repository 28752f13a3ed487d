"""An embeddable gateway for foreign sources: events and readings in from any thread, MQTT out.

A foreign source (a zigbee2mqtt hub, a DC-09 alarm receiver, an NB-IoT platform's HTTP push) is
a gateway like Vigil's own: the same disk queue, gateway sequence numbers, events-first replay,
its own broker account and client id, a retained online status and an offline last will. Only
its input differs, so the adapter calls this from its own threads:

    bridge = Bridge(BridgeConfig(...)); bridge.start()
    future = bridge.emit(events, state=change)   # resolved once the broker PUBACKed them
    bridge.read(readings)                        # telemetry: batched, may be dropped when full
    bridge.set_upstream(False, "hub offline")    # the status says offline (gateway_offline)
    bridge.stop()

`emit`'s future is the durable acceptance a foreign protocol waits for before it acknowledges
(a DC-09 ACK, an HTTP 200): it resolves with the gateway sequence number when the broker has
the message, and fails with BridgeStoppedError if the bridge stops first (the message stays queued
on disk and goes out after the next start; ingest drops the repeat).
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from gateway.backoff import Backoff
from gateway.batcher import Columns
from gateway.foreign_state import Change, ensure_schema
from gateway.link import BrokerConfig, BrokerLink, Will
from gateway.queue import DiskQueue, Lane, QueueFullError
from vigil.codec import (
    CodecError,
    Encoding,
    Event,
    EventBatch,
    GatewayStatus,
    TelemetryBatch,
    decode_command,
    encode,
)
from vigil.topics import Topic, check_gateway_id, check_site, downlink_filter

log = logging.getLogger(__name__)

IDLE_TICK_S = 1.0
DRAIN_S = 2.0
MAX_EVENTS_PER_MESSAGE = 200


class BridgeStoppedError(Exception):
    """The bridge stopped before the broker acknowledged the message (it stays queued)."""


@dataclass(frozen=True)
class Reading:
    """One telemetry value of a foreign device (battery %, link quality, a temperature)."""

    dev: str
    metric: str
    value: float
    ts: float
    seq: int = 0
    rx: float | None = None


@dataclass(frozen=True)
class BridgeConfig:
    gateway_id: str
    site: str
    queue_path: Path
    broker: BrokerConfig
    encoding: Encoding = Encoding.MSGPACK
    batch_readings: int = 500
    batch_delay_s: float = 0.5
    queue_max_bytes: int = 64 * 2**20
    queue_max_rows: int = 100_000
    status_interval_s: float = 30.0
    window: int = 100

    def __post_init__(self) -> None:
        check_gateway_id(self.gateway_id)
        check_site(self.site)
        if not 1 <= self.batch_readings <= 1000:
            raise ValueError("batch_readings must be 1..1000")
        if self.status_interval_s <= 0:
            raise ValueError("status_interval_s must be positive")


@dataclass
class _Pending:
    events: list[Event]
    state: list[Change]
    future: Future[int]


class Bridge:
    """One foreign source's gateway; runs its own thread around one selector."""

    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._inbox: list[_Pending] = []
        self._readings = Columns()
        self._readings_deadline: float | None = None
        self._upstream: tuple[bool, str] = (True, "")
        self._devices: set[str] = set()
        self.rejected = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, self._drain_wake)
        self.queue = DiskQueue(
            config.queue_path, max_bytes=config.queue_max_bytes, max_rows=config.queue_max_rows
        )
        self.queue.write(ensure_schema)  # the tracker's memory lives beside the queue
        self._futures: dict[int, list[Future[int]]] = {}  # queue row id -> waiting callers
        self._held: list[_Pending] = []  # events the full disk could not take yet
        self._topics = {
            Lane.TELEMETRY: str(Topic.telemetry(config.site, config.gateway_id)),
            Lane.EVENT: str(Topic.event(config.site, config.gateway_id)),
        }
        self._status_topic = str(Topic.status(config.site, config.gateway_id))
        self._cursor = {Lane.EVENT: 0, Lane.TELEMETRY: 0}
        self._more = {Lane.EVENT: True, Lane.TELEMETRY: True}
        self._next_status = 0.0
        self._status_sent: bool | None = None
        self.link = BrokerLink(
            config.broker,
            self._selector,
            will=Will(self._status_topic, self._status(False)),
            subscribe=downlink_filter(config.site, config.gateway_id),
            on_connected=self._connected,
            on_command=self._command,
            window=config.window,
            event_reserve=max(1, config.window // 5),
            backoff=Backoff(),
        )

    # ---- the API (any thread) ----------------------------------------------------------
    def emit(self, events: Sequence[Event], *, state: Iterable[Change] = ()) -> Future[int]:
        """Queue events (and the tracker's memory that made them) at once, ahead of telemetry.

        The future resolves with the gateway sequence number once the broker acknowledged the
        message. With no events but a state change, the state alone is stored (resolves at once
        when it is on disk)."""
        future: Future[int] = Future()
        pending = _Pending(list(events), list(state), future)
        with self._lock:
            if self._stopping:
                future.set_exception(BridgeStoppedError("the bridge is stopping"))
                return future
            self._inbox.append(pending)
            self._devices.update(e.dev for e in events)
        self._wake()
        return future

    def read(self, readings: Iterable[Reading]) -> None:
        """Telemetry: batched (batch_readings or batch_delay_s), never ahead of an event."""
        now = time.time()
        with self._lock:
            c = self._readings
            for r in readings:
                c.dev.append(r.dev)
                c.seq.append(r.seq)
                c.ts.append(r.ts)
                c.rx.append(now if r.rx is None else r.rx)
                c.metric.append(r.metric)
                c.value.append(float(r.value))
                self._devices.add(r.dev)
            if len(c) and self._readings_deadline is None:
                self._readings_deadline = time.monotonic() + self.config.batch_delay_s
            full = len(c) >= self.config.batch_readings
        if full:
            self._wake()

    def set_upstream(self, online: bool, why: str = "") -> None:
        """Whether the source behind the bridge (the hub) is reachable: the status says so."""
        with self._lock:
            changed = self._upstream[0] != online
            self._upstream = (online, why)
        if changed:
            log.warning("source %s: %s", "online" if online else "offline", why or "-")
            self._next_status = 0.0
            self._wake()

    def count_rejected(self, n: int = 1) -> None:
        """A message from the source that could not be understood (shown in the status)."""
        with self._lock:
            self.rejected += n

    @property
    def connected(self) -> bool:
        return self.link.connected

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name=f"bridge-{self.config.gateway_id}")
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        with self._lock:
            self._stopping = True
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)

    # ---- the loop ----------------------------------------------------------------------
    def run(self) -> None:
        log.info(
            "bridge %s (site %s): %d messages queued from before",
            self.config.gateway_id, self.config.site, self.queue.rows,
        )  # fmt: skip
        try:
            while not self._stopping:
                self.turn(self._timeout())
        finally:
            self._shutdown()

    def turn(self, timeout: float) -> None:
        for key, mask in self._selector.select(timeout):
            key.data(mask)
        now = time.monotonic()
        self._queue_events()
        deadline = self._readings_deadline
        if deadline is not None and (
            now >= deadline or len(self._readings) >= self.config.batch_readings
        ):
            self._queue_telemetry()
        self.link.tick(now)
        self._send()
        if now >= self._next_status or self._status_sent != self._online():
            self._publish_status(now)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _drain_wake(self, _mask: int) -> None:
        while True:
            try:
                if not self._wake_r.recv(4096):
                    return
            except BlockingIOError:
                return

    def _timeout(self) -> float:
        now = time.monotonic()
        wake = [now + IDLE_TICK_S, self._next_status]
        if self._readings_deadline is not None:
            wake.append(self._readings_deadline)
        if not self.link.connected:
            wake.append(self.link.backoff.next_attempt)
        return max(0.0, min(wake) - now)

    # ---- into the queue ----------------------------------------------------------------
    def _queue_events(self) -> None:
        with self._lock:
            inbox, self._inbox = self._held + self._inbox, []
        self._held = []
        for i, pending in enumerate(inbox):
            try:
                self._queue_one(pending)
            except QueueFullError:
                self._held = inbox[i:]
                log.error("the disk is full: holding %d event messages in memory", len(self._held))
                return

    def _queue_one(self, pending: _Pending) -> None:
        def save_state(db: sqlite3.Connection) -> None:
            for change in pending.state:
                change.save(db)

        if not pending.events:
            if pending.state:
                self._save_state_only(pending)
            pending.future.set_result(0)
            return
        gw = self.config.gateway_id
        chunks = [
            pending.events[k : k + MAX_EVENTS_PER_MESSAGE]
            for k in range(0, len(pending.events), MAX_EVENTS_PER_MESSAGE)
        ]
        last = len(chunks) - 1
        futures: list[Future[int]] = []
        for n, chunk in enumerate(chunks):

            def build(gseq: int, chunk: list[Event] = chunk) -> bytes:
                batch = EventBatch(gw=gw, gseq=gseq, sent=time.time(), events=chunk)
                return encode(batch, self.config.encoding)

            try:
                item = self.queue.put(
                    Lane.EVENT, self._topics[Lane.EVENT], build, save_state if n == last else None
                )
            except CodecError as exc:
                pending.future.set_exception(exc)
                return
            part: Future[int] = Future()
            self._futures.setdefault(item.id, []).append(part)
            futures.append(part)
        self._more[Lane.EVENT] = True
        _all_of(futures, pending.future)

    def _save_state_only(self, pending: _Pending) -> None:
        def save(db: sqlite3.Connection) -> None:
            for change in pending.state:
                change.save(db)

        self.queue.write(save)

    def _queue_telemetry(self) -> None:
        with self._lock:
            c, self._readings = self._readings, Columns()
            self._readings_deadline = None
        if not len(c):
            return
        gw = self.config.gateway_id

        def build(gseq: int) -> bytes:
            batch = TelemetryBatch(
                gw=gw, gseq=gseq, sent=time.time(),
                dev=c.dev, seq=c.seq, ts=c.ts, rx=c.rx, metric=c.metric, value=c.value,
            )  # fmt: skip
            return encode(batch, self.config.encoding)

        try:
            self.queue.put(Lane.TELEMETRY, self._topics[Lane.TELEMETRY], build)
        except QueueFullError:
            return  # given up and counted by the queue
        except CodecError as exc:
            self.count_rejected(len(c))
            log.warning("telemetry refused: %s", exc)
            return
        self._more[Lane.TELEMETRY] = True

    # ---- out to the broker -------------------------------------------------------------
    def _connected(self) -> None:
        self._cursor = {Lane.EVENT: 0, Lane.TELEMETRY: 0}
        self._more = {Lane.EVENT: True, Lane.TELEMETRY: True}
        self._next_status = 0.0
        self._status_sent = None

    def _send(self) -> None:
        acked = self.link.take_acks()
        if acked:
            self.queue.ack(acked)
            for id_ in acked:
                for future in self._futures.pop(id_, []):
                    if not future.done():
                        future.set_result(id_)
        for lane in Lane:  # EVENT first
            room = self.link.room(lane)
            if room == 0 or not self._more[lane]:
                continue
            items = self.queue.pending(lane, self._cursor[lane], room)
            sent = 0
            for item in items:
                if not self.link.publish(item):
                    break
                self._cursor[lane] = item.id
                sent += 1
            self._more[lane] = sent < len(items) or len(items) == room

    def _online(self) -> bool:
        with self._lock:
            return self._upstream[0]

    def _status(self, online: bool) -> bytes:
        with self._lock:
            devices, rejected = len(self._devices), self.rejected
        status = GatewayStatus(
            gw=self.config.gateway_id,
            state="online" if online else "offline",
            ts=time.time(),
            queue_depth=self.queue.rows,
            dropped_telemetry=self.queue.dropped_telemetry,
            devices=devices,
            rejected_frames=rejected,
        )
        return encode(status, self.config.encoding)

    def _publish_status(self, now: float) -> None:
        if not self.link.connected:
            return
        online = self._online()
        self._next_status = now + self.config.status_interval_s
        self.link.publish_retained(self._status_topic, self._status(online))
        self._status_sent = online

    def _command(self, topic: str, payload: bytes) -> None:
        try:
            command = decode_command(payload)
        except CodecError as exc:
            log.warning("refused command on %s: %s", topic, exc)
            return
        log.info("command %s for %s (id %s) on %s", command.cmd, command.dev, command.id, topic)

    def _shutdown(self) -> None:
        self._queue_events()
        self._queue_telemetry()
        deadline = time.monotonic() + DRAIN_S
        while self.link.connected and self.queue.rows and time.monotonic() < deadline:
            self.turn(0.05)
        self.link.close(Will(self._status_topic, self._status(False)))
        acked = self.link.take_acks()
        if acked:
            self.queue.ack(acked)
            for id_ in acked:
                for future in self._futures.pop(id_, []):
                    if not future.done():
                        future.set_result(id_)
        with self._lock:
            left = self._held + self._inbox
            self._inbox, self._held = [], []
        for pending in left:
            pending.future.set_exception(BridgeStoppedError("stopped before the disk took it"))
        for futures in self._futures.values():
            for future in futures:
                if not future.done():
                    future.set_exception(BridgeStoppedError("stopped before the broker's PUBACK"))
        self._futures.clear()
        self.queue.close()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
        log.info("bridge %s stopped", self.config.gateway_id)


def _all_of(parts: list[Future[int]], whole: Future[int]) -> None:
    """Resolve `whole` with the last part's result once every part is done."""
    remaining = [len(parts)]
    lock = threading.Lock()

    def done(part: Future[int]) -> None:
        exc = part.exception()
        with lock:
            remaining[0] -= 1
            if whole.done():
                return
            if exc is not None:
                whole.set_exception(exc)
            elif remaining[0] == 0:
                whole.set_result(part.result())

    for part in parts:
        part.add_done_callback(done)


def default_queue(var_dir: Path, gateway_id: str) -> Path:
    """Where a bridge's queue (and its tracker's memory) lives unless told otherwise."""
    return var_dir / "gateways" / f"{gateway_id}.queue.sqlite"
