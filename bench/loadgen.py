"""A gateway stream without gateways: provisioned layouts, telemetry batches, a QoS 1 publisher.

Used by the benchmark and the tests: messages are what gateways send (columnar MessagePack
batches through `vigil.codec`), devices report frames of three readings with one sequence
number, and every message gets the next gateway sequence number.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from vigil.codec import Encoding, TelemetryBatch, encode
from vigil.settings import Settings
from vigil.topics import Topic

SMOKE_FRAME = ("smoke_obscuration", "temperature", "battery")
FRAME_GAP_S = 0.001  # between a gateway's frames, when it is not sending faster than that
# Between a gateway's frames at the least: its device time gets ahead of the clock only if it
# makes more than a million frames a second.
MIN_GAP_S = 1e-6
RX_DELAY_S = 0.0005  # from a device's time to the gateway's receive time
# A frame's values by its seq: smoke 0.1 + (seq % 7) * 0.05, temperature 21 + seq % 5, battery
# 2.95; they repeat every 35 frames, so a table lookup gives them.
_FRAME_VALUES = np.array([(0.1 + (s % 7) * 0.05, 21.0 + s % 5, 2.95) for s in range(35)])


@dataclass(frozen=True)
class Layout:
    """One site's gateways and their devices (all smoke detectors)."""

    site: str
    gateways: dict[str, list[str]]

    @classmethod
    def make(cls, site: str, gateways: int, devices_per_gateway: int) -> Layout:
        return cls(
            site,
            {
                f"{site}-gw{g}": [f"{site}-gw{g}-sd{d}" for d in range(devices_per_gateway)]
                for g in range(gateways)
            },
        )

    @property
    def devices(self) -> int:
        return sum(len(d) for d in self.gateways.values())

    def provision(self, dsn: str) -> None:
        """Insert the site, its gateways and devices (one statement each, so the registry
        version is bumped a few times, not once per device)."""
        gateways = list(self.gateways)
        devices = [(d, gw) for gw, ds in self.gateways.items() for d in ds]
        with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
            conn.execute(
                "insert into sites (id, name) values (%s, %s)", (self.site, f"site {self.site}")
            )
            conn.execute(
                "insert into gateways (id, site_id, mqtt_username) "
                "select g, %s, g from unnest(%s::text[]) as g",
                (self.site, gateways),
            )
            conn.execute(
                "insert into devices (id, device_type, gateway_id) "
                "select d, 'smoke', g from unnest(%s::text[], %s::text[]) as x(d, g)",
                ([d for d, _ in devices], [g for _, g in devices]),
            )


@dataclass
class GatewayStream:
    """The telemetry of one gateway: device frames round robin, `frames` per message.

    Built with numpy, a block of messages per call (`messages`), so that playing forty gateways
    costs the benchmark little CPU.
    """

    site: str
    gateway: str
    devices: list[str]
    gseq: int = 0
    _frames_sent: int = 0
    _last_ts: float = 0.0
    _names: npt.NDArray[np.object_] = field(init=False, repr=False)
    _topic: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._names = np.array(self.devices, dtype=object)
        self._topic = str(Topic.telemetry(self.site, self.gateway))

    @property
    def topic(self) -> str:
        return self._topic

    def _stamps(self, n: int, now: float) -> npt.NDArray[np.float64]:
        """Device times of the next `n` frames: FRAME_GAP_S apart, the last a millisecond before
        `now`, packed closer when the stream runs faster than that, so that device time does
        not run ahead of the clock (ingest dead-letters future timestamps; spacing them 1 ms
        apart whatever the rate did, in runs over 4 minutes); always rising (by MIN_GAP_S at
        least), hence rising for each device."""
        end = now - 0.001
        gap = min(FRAME_GAP_S, max(MIN_GAP_S, (end - self._last_ts) / n))
        k = np.arange(n)
        ts: npt.NDArray[np.float64] = np.maximum(
            end - gap * (n - 1 - k), self._last_ts + MIN_GAP_S * (k + 1)
        )
        self._last_ts = float(ts[-1])
        return ts

    def batches(self, count: int, frames: int, now: float) -> list[TelemetryBatch]:
        """The next `count` batches of `frames` frames, each sent a millisecond after its last
        frame's time: one numpy pass for them all."""
        n = count * frames
        counter = self._frames_sent + np.arange(n)
        self._frames_sent += n
        names = self._names[counter % len(self.devices)]
        seq = counter // len(self.devices) + 1  # round robin: the n-th visit is frame n
        ts = self._stamps(n, now)
        per_reading = len(SMOKE_FRAME)
        dev = np.repeat(names, per_reading).tolist()
        seqs = np.repeat(seq, per_reading).tolist()
        each_ts = np.repeat(ts, per_reading)
        stamps = each_ts.tolist()
        rx = (each_ts + RX_DELAY_S).tolist()
        value = _FRAME_VALUES[seq % len(_FRAME_VALUES)].ravel().tolist()
        sent = ts[frames - 1 :: frames] + 0.001
        sent[-1] = max(now, sent[-1])  # the last one leaves now (not a rounding error before)
        metric = list(SMOKE_FRAME) * frames
        size = frames * per_reading
        out = []
        for i in range(count):
            part = slice(i * size, (i + 1) * size)
            self.gseq += 1
            out.append(
                TelemetryBatch(
                    gw=self.gateway,
                    gseq=self.gseq,
                    sent=float(sent[i]),
                    dev=dev[part],
                    seq=seqs[part],
                    ts=stamps[part],
                    rx=rx[part],
                    metric=metric[:],
                    value=value[part],
                )
            )
        return out

    def batch(self, frames: int, now: float) -> TelemetryBatch:
        return self.batches(1, frames, now)[0]

    def messages(self, count: int, frames: int, now: float) -> list[tuple[str, bytes, int]]:
        """The next `count` messages: (topic, MessagePack payload, readings in it)."""
        return [
            (self._topic, encode(b, Encoding.MSGPACK), len(b))
            for b in self.batches(count, frames, now)
        ]

    def message(self, frames: int, now: float | None = None) -> tuple[str, bytes, int]:
        """(topic, MessagePack payload, readings in it)."""
        return self.messages(1, frames, time.time() if now is None else now)[0]


def streams(layout: Layout) -> list[GatewayStream]:
    return [GatewayStream(layout.site, gw, devices) for gw, devices in layout.gateways.items()]


def round_robin(
    gens: list[GatewayStream], each: int, frames: int, now: float | None = None
) -> list[tuple[str, bytes, int]]:
    """`each` messages from every gateway, in turn (one from each, then the next from each):
    a block built ahead with one numpy pass per gateway instead of one per message."""
    at = time.time() if now is None else now
    per_gateway = [g.messages(each, frames, at) for g in gens]
    return [m for turn in zip(*per_gateway, strict=True) for m in turn]


def messages(
    layout: Layout, count: int, frames: int, start: float | None = None
) -> list[tuple[str, bytes, int]]:
    """`count` messages spread over the layout's gateways, sent-times one millisecond apart."""
    gens = streams(layout)
    t0 = time.time() if start is None else start
    return [gens[i % len(gens)].message(frames, t0 + i * 0.001) for i in range(count)]


def broker_port(settings: Settings) -> int:
    return settings.mqtt_port if settings.mqtt_port is not None else settings.stack_mqtt_port


def _client(settings: Settings, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(settings.mqtt_username, settings.mqtt_password.get_secret_value())
    return client


# (packet id, reason code) of each PUBACK read in one wake-up of paho's network thread.
AcksHandler = Callable[[list[tuple[int, int]]], None]
READ_CHUNK = 64 * 1024  # bytes asked of the socket at once: some thousands of PUBACKs
_PUBLISH_QOS1 = 0x32  # PUBLISH, QoS 1, not retained, not DUP (MQTT 5 3.3.1)
_DUP = 0x08
PACKET_IDS = 65535  # 1 to 65535 (MQTT 5 2.2.1)


class PublishingClient(mqtt.Client):
    """paho's client, less its per-message work for the one thing the load generator does in
    bulk: QoS 1 PUBLISH packets are queued many to one write (`queue_publishes`) instead of
    one `MQTTMessage`, wake-up and system call each, and PUBACKs go to `on_acks`, a list per
    wake-up, instead of a `ReasonCode`, `Properties` and callback each plus paho's walk of
    its whole in-flight table. Socket reads are buffered, so a wake-up reads thousands of
    PUBACKs with one system call rather than three per PUBACK. Paho still connects, keeps
    alive, reconnects and reads every other packet. The owner keeps the packets in flight and
    sends them again after a reconnect (`Publisher`). `_packet_handle`, `_sock_recv` and
    `_packet_queue` are paho's, not its public API (the ingest's `LeanClient` overrides its
    read side the same way): tests/ingest/test_loadgen.py checks this against the broker."""

    on_acks: AcksHandler | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unread = b""
        self._unread_at = 0
        self._acks: list[tuple[int, int]] = []

    def publish_packet(self, topic: str, mid: int, payload: bytes) -> bytes:
        """paho's QoS 1 PUBLISH (its `_send_publish`, less the queueing), MQTT 5, no properties."""
        packet = bytearray((_PUBLISH_QOS1,))
        encoded = topic.encode()
        self._pack_remaining_length(packet, 2 + len(encoded) + 2 + 1 + len(payload))
        self._pack_str16(packet, encoded)
        packet += mid.to_bytes(2, "big")
        packet.append(0)  # no properties
        return bytes(packet) + payload

    def queue_publishes(self, packets: list[bytes]) -> None:
        """Hand PUBLISH packets (`publish_packet`) to the network thread as one write."""
        if packets:
            self._packet_queue(mqtt.PUBLISH, b"".join(packets), 0, 1)

    def _packet_handle(self) -> MQTTErrorCode:
        if self._in_packet["command"] & 0xF0 != mqtt.PUBACK or self.on_acks is None:
            return super()._packet_handle()
        body = self._in_packet["packet"]
        if len(body) < 2:
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        # MQTT 5 3.4.2.1: no reason code means Success.
        self._acks.append((int.from_bytes(body[0:2], "big"), body[2] if len(body) > 2 else 0))
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._unread_at >= len(self._unread):
            self._unread = super()._sock_recv(READ_CHUNK)  # BlockingIOError when none
            self._unread_at = 0
        at = self._unread_at
        chunk = self._unread[at : at + bufsize]
        self._unread_at = at + len(chunk)
        return chunk

    def _sock_close(self) -> None:
        super()._sock_close()
        self._unread, self._unread_at = b"", 0  # what was read of a lost connection is dropped

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """paho's read, but on until the buffer and the socket are empty (paho reads one packet
        per wake-up when its own table of messages is empty); the PUBACKs go out as one list."""
        rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        while self._sock is not None:
            rc = self._packet_read()
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                rc = MQTTErrorCode.MQTT_ERR_SUCCESS
                break
            if rc > 0:
                rc = self._loop_rc_handle(rc)
                break
        else:
            rc = MQTTErrorCode.MQTT_ERR_NO_CONN
        acks, self._acks = self._acks, []
        if acks and self.on_acks is not None:
            with self._in_callback_mutex:
                self.on_acks(acks)
        return rc


class Publisher:
    """A QoS 1 publisher that keeps at most `window` messages unacknowledged by the broker.

    Every message keeps its packet until its PUBACK is read: `flush` returns only when the
    broker has acknowledged all, and after a reconnect those not acknowledged are sent again
    (DUP set), as paho does for its own messages.
    """

    def __init__(self, settings: Settings, window: int = 1000) -> None:
        if not 0 < window <= PACKET_IDS // 2:
            raise ValueError(f"window must be from 1 to {PACKET_IDS // 2}")
        self.window = window
        self.sent = 0
        self.refused = 0  # PUBACKs with a failure reason code (MQTT 5 3.4.2.1)
        self.connections = 0
        self._inflight: dict[int, bytes] = {}  # packet id -> PUBLISH packet
        self._mid = 0
        self._connected = False
        self._cond = threading.Condition()
        client = PublishingClient(
            CallbackAPIVersion.VERSION2,
            client_id=f"loadgen-{uuid.uuid4().hex[:10]}",
            protocol=mqtt.MQTTv5,
        )
        client.username_pw_set(settings.mqtt_username, settings.mqtt_password.get_secret_value())
        client.on_acks = self._on_acks
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self.client = client
        client.connect(settings.mqtt_host, broker_port(settings))
        client.loop_start()

    def _on_connect(self, client: mqtt.Client, *_: object) -> None:
        with self._cond:
            self._connected = True
            self.connections += 1
            # Whatever was published before: sent now, and marked DUP if it went on a lost
            # connection already (the broker may have had it).
            dup = _DUP if self.connections > 1 else 0
            again = [bytes((p[0] | dup,)) + p[1:] for p in self._inflight.values()]
            self.client.queue_publishes(again)

    def _on_disconnect(self, *_: object) -> None:
        with self._cond:
            self._connected = False

    def _on_acks(self, acks: list[tuple[int, int]]) -> None:
        with self._cond:
            for mid, reason in acks:
                if self._inflight.pop(mid, None) is not None and reason >= 0x80:
                    self.refused += 1
            self._cond.notify_all()

    def _next_mid(self) -> int:
        """A packet id not in flight (ids are reused after 65535; the caller holds the lock)."""
        while True:
            self._mid = self._mid % PACKET_IDS + 1
            if self._mid not in self._inflight:
                return self._mid

    def publish(self, items: Iterable[tuple[str, bytes]], timeout: float = 60.0) -> None:
        """Publish, waiting whenever `window` messages await the broker's PUBACK (at most
        `timeout` for room each time); what fits the window goes to the socket as one write."""
        pending = list(items)
        while pending:
            with self._cond:
                if not self._cond.wait_for(lambda: len(self._inflight) < self.window, timeout):
                    raise TimeoutError(f"{len(self._inflight)} messages not acknowledged")
                room = min(len(pending), self.window - len(self._inflight))
                packets = []
                for topic, payload in pending[:room]:
                    mid = self._next_mid()
                    packet = self.client.publish_packet(topic, mid, payload)
                    self._inflight[mid] = packet
                    packets.append(packet)
                if self._connected:
                    self.client.queue_publishes(packets)
                self.sent += room
            del pending[:room]

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until the broker acknowledged everything published."""
        with self._cond:
            if not self._cond.wait_for(lambda: not self._inflight, timeout):
                raise TimeoutError(f"{len(self._inflight)} messages not acknowledged")

    def close(self) -> None:
        self.flush()
        self.client.disconnect()
        self.client.loop_stop()


def forget_sessions(settings: Settings, client_id: str) -> None:
    """Drop both of a worker's sessions: its telemetry lane's and its event lane's."""
    for session in (client_id, f"{client_id}-events"):
        forget_session(settings, session)


def forget_session(settings: Settings, client_id: str) -> None:
    """Drop a persistent session and its queue at the broker (a worker retired for good)."""
    client = _client(settings, client_id)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 0
    client.connect(settings.mqtt_host, broker_port(settings), clean_start=True, properties=props)
    client.loop_start()
    deadline = time.monotonic() + 5
    while not client.is_connected() and time.monotonic() < deadline:
        time.sleep(0.02)
    client.disconnect()
    client.loop_stop()
