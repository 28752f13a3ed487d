"""One gateway: device frames in, validated and batched, through the disk queue to the broker.

Everything runs in one thread around one selector: device sockets, the MQTT socket and a wake-up
pipe. Each turn reads what arrived, queues events at once and telemetry when its batch is due,
then sends from the queue, events first.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from gateway.batcher import TelemetryBatcher
from gateway.intake import FrameIntake
from gateway.link import GATEWAY_JITTER, BrokerConfig, BrokerLink, Will
from gateway.queue import DiskQueue, Lane, QueueFullError
from vigil.backoff import Backoff
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
from vigil.frames import Frame, decode_frame
from vigil.topics import Topic, check_gateway_id, check_site, downlink_filter

log = logging.getLogger(__name__)

MAX_BATCH_READINGS = 1000  # 1000 readings with 64-character names stay under MAX_MESSAGE_BYTES
IDLE_TICK_S = 1.0
DRAIN_S = 2.0


@dataclass(frozen=True)
class GatewayConfig:
    gateway_id: str
    site: str
    socket_path: Path
    queue_path: Path
    broker: BrokerConfig
    encoding: Encoding = Encoding.MSGPACK
    batch_readings: int = 500
    batch_delay_s: float = 0.025
    queue_max_bytes: int = 256 * 2**20
    queue_max_rows: int = 100_000
    status_interval_s: float = 10.0
    window: int = 100

    def __post_init__(self) -> None:
        check_gateway_id(self.gateway_id)
        check_site(self.site)
        if not 1 <= self.batch_readings <= MAX_BATCH_READINGS:
            raise ValueError(f"batch_readings must be 1..{MAX_BATCH_READINGS}")
        if not 0 <= self.batch_delay_s <= 10:
            raise ValueError("batch_delay_s must be 0..10 s")
        if self.status_interval_s <= 0:
            raise ValueError("status_interval_s must be positive")


@dataclass
class Counters:
    """Since the process started, for the status."""

    rejected: int = 0
    devices: set[str] = field(default_factory=set)


class Gateway:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.counters = Counters()
        self._stopping = False
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, self._drain_wake)
        self.queue = DiskQueue(
            config.queue_path, max_bytes=config.queue_max_bytes, max_rows=config.queue_max_rows
        )
        self._batcher = TelemetryBatcher(config.batch_readings, config.batch_delay_s)
        self._events: list[Event] = []
        self._held_events = 0  # events the full disk could not take yet
        self._topics = {
            Lane.TELEMETRY: str(Topic.telemetry(config.site, config.gateway_id)),
            Lane.EVENT: str(Topic.event(config.site, config.gateway_id)),
        }
        self._status_topic = str(Topic.status(config.site, config.gateway_id))
        # Per lane: the last row sent on this connection, and whether rows may wait after it
        # (saves a query per turn when everything has been sent).
        self._cursor = {Lane.EVENT: 0, Lane.TELEMETRY: 0}
        self._more = {Lane.EVENT: True, Lane.TELEMETRY: True}
        self._next_status = 0.0
        self.link = BrokerLink(
            config.broker,
            self._selector,
            will=Will(self._status_topic, self._status("offline")),
            subscribe=downlink_filter(config.site, config.gateway_id),
            on_connected=self._connected,
            on_command=self._command,
            window=config.window,
            event_reserve=max(1, config.window // 5),
            backoff=Backoff(jitter=GATEWAY_JITTER),
        )
        self.intake = FrameIntake(config.socket_path, self._selector, self._packet)

    # ---- the loop ----------------------------------------------------------------------
    def run(self) -> None:
        """Serve until `stop()`; then queue what is gathered and say goodbye to the broker."""
        log.info(
            "gateway %s (site %s) listening on %s, %d messages queued from before",
            self.config.gateway_id, self.config.site, self.config.socket_path, self.queue.rows,
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
        if self._events:
            self._queue_events()
        if self._batcher.due(now):
            self._queue_telemetry()
        self.link.tick(now)
        self._send()
        if now >= self._next_status:
            self._publish_status(now)

    def stop(self) -> None:
        """Ask `run` to finish; safe from another thread or a signal handler."""
        self._stopping = True
        # A full pipe means a wake-up is pending already; a closed one, that the loop has ended.
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
        if self._batcher.deadline is not None:
            wake.append(self._batcher.deadline)
        if not self.link.connected:
            wake.append(self.link.backoff.next_attempt)
        return max(0.0, min(wake) - now)

    # ---- frames in ---------------------------------------------------------------------
    def _packet(self, packet: bytes) -> None:
        rx = time.time()
        try:
            frame = decode_frame(packet)
        except CodecError as exc:
            self._reject(str(exc))
            return
        problem = frame.problem()
        if problem is not None:
            self._reject(problem)
            return
        self.counters.devices.add(frame.dev)
        if frame.is_event:
            self._events.append(_event(frame, rx))
            return
        self._batcher.add(frame, rx, time.monotonic())
        if len(self._batcher) >= self.config.batch_readings:
            self._queue_telemetry()

    def _reject(self, reason: str) -> None:
        # Refused frames are not forwarded: the log (stderr) keeps each with its reason and the
        # status counts them, so an installer sees a miswired or broken device.
        self.counters.rejected += 1
        log.warning("rejected frame: %s", reason)

    # ---- into the queue ----------------------------------------------------------------
    def _queue_events(self) -> None:
        events, self._events = self._events, []
        gw = self.config.gateway_id

        def build(gseq: int) -> bytes:
            batch = EventBatch(gw=gw, gseq=gseq, sent=time.time(), events=events)
            return encode(batch, self.config.encoding)

        try:
            self.queue.put(Lane.EVENT, self._topics[Lane.EVENT], build)
        except QueueFullError:
            # The disk is full even of events: hold them here and offer them every turn.
            self._events = events + self._events
            if not self._held_events:
                log.error("the disk is full: holding %d events in memory", len(events))
            self._held_events = len(self._events)
            return
        if self._held_events:
            log.warning("the disk has room again: %d held events queued", self._held_events)
            self._held_events = 0
        self._more[Lane.EVENT] = True

    def _queue_telemetry(self) -> None:
        c = self._batcher.take()
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
            return  # given up and counted by the queue, like the oldest telemetry
        self._more[Lane.TELEMETRY] = True

    # ---- out to the broker -------------------------------------------------------------
    def _connected(self) -> None:
        # Replay everything not acknowledged, from the oldest; events before telemetry.
        self._cursor = {Lane.EVENT: 0, Lane.TELEMETRY: 0}
        self._more = {Lane.EVENT: True, Lane.TELEMETRY: True}
        self._next_status = 0.0

    def _send(self) -> None:
        acked = self.link.take_acks()
        if acked:
            self.queue.ack(acked)
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

    def _status(self, state: str) -> bytes:
        status = GatewayStatus(
            gw=self.config.gateway_id,
            state="online" if state == "online" else "offline",
            ts=time.time(),
            queue_depth=self.queue.rows,
            dropped_telemetry=self.queue.dropped_telemetry,
            devices=len(self.counters.devices),
            rejected_frames=self.counters.rejected,
        )
        return encode(status, self.config.encoding)

    def _publish_status(self, now: float) -> None:
        self._next_status = now + self.config.status_interval_s
        self.link.publish_retained(self._status_topic, self._status("online"))

    def _command(self, topic: str, payload: bytes) -> None:
        try:
            command = decode_command(payload)
        except CodecError as exc:
            log.warning("refused command on %s: %s", topic, exc)
            return
        # Devices take no commands over the local transport yet; the command is only logged.
        log.info("command %s for %s (id %s) on %s", command.cmd, command.dev, command.id, topic)

    def _shutdown(self) -> None:
        if self._events:
            self._queue_events()
        if len(self._batcher):
            self._queue_telemetry()
        # Send what is queued while the broker is there; what is left waits on disk.
        deadline = time.monotonic() + DRAIN_S
        while self.link.connected and self.queue.rows and time.monotonic() < deadline:
            self.turn(0.05)
        if self._events:
            log.error("the disk is full: %d events are lost at exit", len(self._events))
        self.link.close(Will(self._status_topic, self._status("offline")))
        acked = self.link.take_acks()  # PUBACKs read while saying goodbye
        if acked:
            self.queue.ack(acked)
        self.intake.close()
        self.queue.close()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
        log.info("gateway %s stopped", self.config.gateway_id)


def _event(frame: Frame, rx: float) -> Event:
    assert frame.e is not None
    return Event(dev=frame.dev, seq=frame.seq, ts=frame.ts, rx=rx, kind=frame.e,
                 value=frame.event_value)  # fmt: skip


def default_paths(var_dir: Path, gateway_id: str) -> tuple[Path, Path]:
    """Where a gateway's socket and queue live unless told otherwise."""
    base = var_dir / "gateways"
    return base / f"{gateway_id}.sock", base / f"{gateway_id}.queue.sqlite"
