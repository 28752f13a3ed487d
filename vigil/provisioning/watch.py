"""The console's eye on one gateway during a commissioning test: its retained status, the test
signal as the broker delivers it, and the self-test command sent down to it.

One MQTT connection with the service account, alive for the test only. The subscription is not
shared, so ingest's shared subscription still gets every message too.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from vigil.codec import (
    CodecError,
    Command,
    Encoding,
    EventBatch,
    TelemetryBatch,
    decode_status,
    decode_uplink,
    encode,
)
from vigil.errors import VigilError
from vigil.provisioning.commissioning import SIGNAL_KINDS, SIGNAL_METRICS, Seen, StatusFacts
from vigil.settings import Settings
from vigil.topics import Topic, TopicError, uplink_filter

CONNECT_TIMEOUT_S = 5.0
RETAINED_GRACE_S = 0.5  # a retained message follows its SUBACK within this on loopback


class WatchError(VigilError):
    """The console could not watch the gateway on the broker."""


class GatewayWatch:
    """Subscribes to one gateway's status and uplinks and records the first test signal of one
    device (its per-hop times go into `seen`)."""

    def __init__(self, settings: Settings, site: str, gateway_id: str, device_id: str) -> None:
        self.site = site
        self.gateway_id = gateway_id
        self.device_id = device_id
        self.seen = Seen()
        self.status: StatusFacts | None = None
        self.since = time.time()
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._failure: str | None = None
        self._status_topic = str(Topic.status(site, gateway_id))
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"vigil-commission-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv5,
        )
        self._client.username_pw_set(
            settings.mqtt_username, settings.mqtt_password.get_secret_value()
        )
        self._client.on_connect = self._connected
        self._client.on_subscribe = self._suback
        self._client.on_message = self._message
        self._host = settings.mqtt_host
        self._port = settings.mqtt_port or settings.stack_mqtt_port

    def __enter__(self) -> GatewayWatch:
        try:
            self._client.connect(self._host, self._port, keepalive=30)
        except OSError as exc:
            where = f"{self._host}:{self._port}"
            raise WatchError(f"cannot reach the broker at {where}: {exc}") from exc
        self._client.loop_start()
        if not self._subscribed.wait(CONNECT_TIMEOUT_S) or self._failure:
            self.close()
            raise WatchError(self._failure or "the broker did not answer the subscription")
        time.sleep(RETAINED_GRACE_S)
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def reset(self) -> None:
        """Forget anything seen before the installer was asked to act."""
        with self._lock:
            self.seen = Seen()
            self.since = time.time()

    def snapshot(self) -> Seen:
        with self._lock:
            return Seen(**vars(self.seen))

    def send_self_test(self) -> str:
        """Ask the gateway to have the device test itself; returns the command id."""
        command = Command(cmd="self_test", dev=self.device_id, id=uuid.uuid4().hex)
        topic = str(Topic.down(self.site, self.gateway_id, "self_test"))
        info = self._client.publish(topic, encode(command, Encoding.JSON), qos=1)
        info.wait_for_publish(CONNECT_TIMEOUT_S)
        return command.id

    # ---- paho callbacks (its network thread) -------------------------------------------
    def _connected(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._failure = f"the broker refused the service account: {reason}"
            self._subscribed.set()
            return
        client.subscribe([(self._status_topic, 1), (uplink_filter(self.site, self.gateway_id), 1)])

    def _suback(self, _c: mqtt.Client, _u: Any, _m: Any, codes: Any, _p: Any) -> None:
        if any(code.is_failure for code in codes):
            self._failure = "the service account may not subscribe to the gateway's topics"
        self._subscribed.set()

    def _message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        arrived = time.time()
        try:
            if msg.topic == self._status_topic:
                status = decode_status(msg.payload)
                with self._lock:
                    self.status = StatusFacts(state=status.state, ts=status.ts)
                return
            uplink = decode_uplink(msg.payload, Topic.parse(msg.topic))
        except (CodecError, TopicError, ValueError):
            return  # ingest dead-letters it; the test reports that from the database
        with self._lock:
            if self.seen.broker_at is None:
                self._record(uplink, arrived)

    def _record(self, uplink: TelemetryBatch | EventBatch, arrived: float) -> None:
        if isinstance(uplink, EventBatch):
            for e in uplink.events:
                if e.dev == self.device_id and e.kind in SIGNAL_KINDS and e.rx >= self.since:
                    self._hit(e.kind, e.value, e.seq, (e.ts, e.rx))
                    self.seen.broker_at = arrived
                    return
            return
        for i, dev in enumerate(uplink.dev):
            metric = uplink.metric[i]
            if dev == self.device_id and metric in SIGNAL_METRICS and uplink.rx[i] >= self.since:
                self._hit(metric, uplink.value[i], uplink.seq[i], (uplink.ts[i], uplink.rx[i]))
                self.seen.broker_at = arrived
                return

    def _hit(self, kind: str, value: float, seq: int, times: tuple[float, float]) -> None:
        s = self.seen
        s.kind, s.value, s.seq = kind, value, seq
        s.device_ts, s.gateway_rx = times
