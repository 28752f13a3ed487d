"""A gateway stream without gateways: provisioned layouts, telemetry batches, a QoS 1 publisher.

Used by the benchmark and the tests: messages are what gateways send (columnar MessagePack
batches through `vigil.codec`), devices report frames of three readings with one sequence
number, and every message gets the next gateway sequence number.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from vigil.codec import Encoding, TelemetryBatch, encode
from vigil.settings import Settings
from vigil.topics import Topic

SMOKE_FRAME = ("smoke_obscuration", "temperature", "battery")


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

    Built with numpy so that playing forty gateways costs the benchmark little CPU.
    """

    site: str
    gateway: str
    devices: list[str]
    gseq: int = 0
    _frames_sent: int = 0
    _last_ts: float = 0.0
    _names: npt.NDArray[np.object_] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._names = np.array(self.devices, dtype=object)

    @property
    def topic(self) -> str:
        return str(Topic.telemetry(self.site, self.gateway))

    def batch(self, frames: int, now: float) -> TelemetryBatch:
        k = np.arange(frames)
        counter = self._frames_sent + k
        self._frames_sent += frames
        names = self._names[counter % len(self.devices)]
        seq = counter // len(self.devices) + 1  # round robin: the n-th visit is frame n
        # Timestamps only move forward within a gateway, hence for each of its devices,
        # however fast messages are made.
        ts = np.maximum(now - 0.001 * (frames - k), self._last_ts + 0.001 * (k + 1))
        if frames:
            self._last_ts = float(ts[-1])
        values = np.column_stack(
            (0.1 + (seq % 7) * 0.05, 21.0 + seq % 5, np.full(frames, 2.95))
        ).ravel()
        per_reading = len(SMOKE_FRAME)
        self.gseq += 1
        return TelemetryBatch(
            gw=self.gateway,
            gseq=self.gseq,
            sent=now,
            dev=np.repeat(names, per_reading).tolist(),
            seq=np.repeat(seq, per_reading).tolist(),
            ts=np.repeat(ts, per_reading).tolist(),
            rx=np.repeat(ts + 0.0005, per_reading).tolist(),
            metric=list(SMOKE_FRAME) * frames,
            value=values.tolist(),
        )

    def message(self, frames: int, now: float | None = None) -> tuple[str, bytes, int]:
        """(topic, MessagePack payload, readings in it)."""
        batch = self.batch(frames, time.time() if now is None else now)
        return self.topic, encode(batch, Encoding.MSGPACK), len(batch)


def streams(layout: Layout) -> list[GatewayStream]:
    return [GatewayStream(layout.site, gw, devices) for gw, devices in layout.gateways.items()]


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


class Publisher:
    """A QoS 1 publisher that keeps at most `window` messages unacknowledged by the broker."""

    def __init__(self, settings: Settings, window: int = 1000) -> None:
        self.client = _client(settings, f"loadgen-{uuid.uuid4().hex[:10]}")
        self.client.max_inflight_messages_set(window)
        self.window = window
        self._acked = 0
        self._cond = threading.Condition()
        self.client.on_publish = self._on_publish
        self.client.connect(settings.mqtt_host, broker_port(settings))
        self.client.loop_start()
        self.sent = 0

    def _on_publish(self, *_: object) -> None:
        with self._cond:
            self._acked += 1
            self._cond.notify_all()

    def publish(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Publish, waiting whenever `window` messages await the broker's PUBACK."""
        for topic, payload in items:
            with self._cond:
                while self.sent - self._acked >= self.window:
                    self._cond.wait(1.0)
            info = self.client.publish(topic, payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise RuntimeError(f"publish failed: {mqtt.error_string(info.rc)}")
            self.sent += 1

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until the broker acknowledged everything published."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._acked < self.sent:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.sent - self._acked} messages not acknowledged")
                self._cond.wait(0.5)

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
