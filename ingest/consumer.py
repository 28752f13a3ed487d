"""The MQTT side: a persistent QoS 1 session with manual acknowledgement.

paho's network thread only queues each message; the committer acknowledges after the commit.
The broker sends at most `receive_window` unacknowledged messages (MQTT 5 Receive Maximum),
so a stalled database stops the flow at the broker, which holds the backlog; the inbox's byte
bound backs that up where the broker overshoots the window.

Packet ids are per connection: after a reconnect the broker resends every unacknowledged
message, so acknowledgements for messages of an earlier connection are not sent (they would
be stored twice at worst, and deduplicated; an ack with a stale id could acknowledge a
different, uncommitted message).
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import PUBACK
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from ingest.inbox import Inbox
from ingest.metrics import Counters

log = logging.getLogger(__name__)


# Made several times per message, never changed: not `frozen`, whose __init__ costs ~6x more.
@dataclass(slots=True)
class Delivery:
    """One received message and what is needed to acknowledge it."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    dup: bool
    connection: int  # which connection it came on; acks are only sent on the same one
    received: float  # wall clock


@dataclass(frozen=True)
class BrokerConfig:
    host: str
    port: int
    username: str
    password: str
    client_id: str
    receive_window: int
    session_expiry_s: int
    keepalive_s: int = 30


# (topic, payload, packet id, dup) of a QoS 1 PUBLISH, handed over by `LeanClient`.
PublishHandler = Callable[[str, bytes, int, bool], None]
# Packets read per wake-up of paho's loop at most, so its keepalive and writes still get a turn.
READ_BURST = 64
# A PUBACK with remaining length 2: packet id only, reason Success (MQTT 5 3.4.2.1, and 3.1.1).
_PUBACK = struct.Struct("!BBH")


class LeanClient(mqtt.Client):
    """paho's client, less its per-message work for the one kind of message ingest takes in
    bulk: a well-formed QoS 1 PUBLISH on MQTT 5 goes straight to `on_publish_lean`, without
    the `Properties` object paho parses for every message (ingest reads no properties), the
    `MQTTMessage`, or the match of its topic against per-filter callbacks (ingest has none).
    Anything else (QoS 0 or 2, a topic that is not UTF-8, a malformed packet) takes paho's own
    path to `on_message`, and so does every message of a session that is not MQTT 5 with manual
    acknowledgement (the lean path sends no PUBACK). `_handle_publish` is paho's, not its public
    API: tests/ingest/test_lean_client.py checks that the lean path still gives what paho's does.
    """

    on_publish_lean: PublishHandler | None = None

    def _handle_publish(self) -> MQTTErrorCode:
        lean = self.on_publish_lean
        header = self._in_packet["command"]
        if lean is None or header & 0x06 != 0x02 or not self._manual_ack:
            return super()._handle_publish()
        parsed = _lean_publish(self._in_packet["packet"]) if self._protocol == mqtt.MQTTv5 else None
        if parsed is None:
            return super()._handle_publish()
        topic, payload, mid = parsed
        with self._in_callback_mutex:
            lean(topic, payload, mid, bool(header & 0x08))
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """paho's read, but on to the next packet while the socket holds one (up to
        `READ_BURST`): paho reads one packet per wake-up, each with its own select() and
        keepalive check, although the broker sends messages back to back."""
        for _ in range(READ_BURST):
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                break
            if rc > 0:
                return self._loop_rc_handle(rc)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_many(self, mids: Sequence[int]) -> None:
        """PUBACKs for QoS 1 messages, queued as one write: paho's `ack` queues a packet per
        message, each waking the network thread and sent by a system call of its own."""
        if mids:
            packet = b"".join([_PUBACK.pack(PUBACK, 2, mid) for mid in mids])
            self._packet_queue(PUBACK, packet, mids[-1], 1)


def _lean_publish(packet: bytes | bytearray) -> tuple[str, bytes, int] | None:
    """(topic, payload, packet id) of a QoS 1 PUBLISH's variable header and payload, skipping
    its properties; None if it is not well formed (paho's own path then says why)."""
    size = len(packet)
    at = 2 + int.from_bytes(packet[0:2], "big")
    if size < 2 or at + 2 > size:
        return None
    try:
        topic = packet[2:at].decode()
        properties, start = _variable_int(packet, at + 2)
    except (IndexError, UnicodeDecodeError, ValueError):
        return None
    if start + properties > size:
        return None
    with memoryview(packet) as view:
        payload = bytes(view[start + properties :])  # one copy; the view is let go at once
    return topic, payload, int.from_bytes(packet[at : at + 2], "big")


def _variable_int(packet: bytes | bytearray, at: int) -> tuple[int, int]:
    """MQTT's variable byte integer at `at` (at most 4 bytes), and where what follows starts."""
    value = 0
    for k in range(4):
        byte = packet[at + k]
        value |= (byte & 0x7F) << (7 * k)
        if not byte & 0x80:
            return value, at + k + 1
    raise ValueError("a variable byte integer longer than 4 bytes")


class Consumer:
    """Subscribes, queues deliveries into `inbox`, and acknowledges them when told."""

    def __init__(
        self,
        config: BrokerConfig,
        inbox: Inbox[Delivery],
        counters: Counters,
    ) -> None:
        self.config = config
        self.inbox = inbox
        self.counters = counters
        self._filters: set[str] = set()
        self._dropped: set[str] = set()
        self._lock = threading.Lock()
        self._connection = 0
        self._connected = False
        self._subscribed = threading.Event()
        counters.received[config.client_id] = 0
        counters.broker[config.client_id] = False
        self.client = self._make_client()

    def _make_client(self) -> LeanClient:
        client = LeanClient(
            CallbackAPIVersion.VERSION2,
            client_id=self.config.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        client.username_pw_set(self.config.username, self.config.password)
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_publish_lean = self._handle_publish
        client.on_subscribe = self._handle_subscribe
        return client

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.config.session_expiry_s
        props.ReceiveMaximum = self.config.receive_window
        self.client.connect_async(
            self.config.host,
            self.config.port,
            keepalive=self.config.keepalive_s,
            clean_start=False,
            properties=props,
        )
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect cleanly; the session and anything unacknowledged stay at the broker."""
        self.client.disconnect()
        self.client.loop_stop()

    def wait_subscribed(self, timeout: float) -> bool:
        """Wait for the broker to confirm a subscription on the current connection."""
        return self._subscribed.wait(timeout)

    @property
    def filters(self) -> frozenset[str]:
        return frozenset(self._filters)

    def subscribe(self, filters: Iterable[str]) -> None:
        """Add topic filters; they are (re)subscribed on every connection."""
        new = set(filters) - self._filters
        if not new:
            return
        self._filters |= new
        if self._connected:
            self._subscribe(sorted(new))

    def unsubscribe(self, filters: Iterable[str]) -> None:
        """Drop filters an earlier run of this session may have left (the broker keeps a
        persistent session's subscriptions); sent again on every connection."""
        new = set(filters) - self._filters - self._dropped
        if not new:
            return
        self._dropped |= new
        if self._connected:
            self.client.unsubscribe(sorted(new))

    def _subscribe(self, filters: Sequence[str]) -> None:
        if filters:
            options = SubscribeOptions(qos=1)
            self.client.subscribe([(f, options) for f in filters])
            log.info("subscribed to %s", ", ".join(filters))

    def ack(self, deliveries: Iterable[Delivery]) -> int:
        """Acknowledge committed messages, in arrival order; returns how many were sent."""
        with self._lock:
            if not self._connected:
                return 0
            now = self._connection
            mine = [d for d in deliveries if d.qos > 0 and d.connection == now]
            run: list[int] = []  # QoS 1 in a row: one write
            for d in mine:
                if d.qos == 1:
                    run.append(d.mid)
                    continue
                self.client.ack_many(run)
                run = []
                self.client.ack(d.mid, d.qos)
            self.client.ack_many(run)
        return len(mine)

    # ---- paho callbacks (network thread) -------------------------------------------------
    def _handle_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        with self._lock:
            self._connection += 1
            self._connected = True
        self.counters.broker[self.config.client_id] = True
        log.info("connected to the broker (session present: %s)", flags.session_present)
        self._subscribe(sorted(self._filters))
        if self._dropped:
            client.unsubscribe(sorted(self._dropped))

    def _handle_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        with self._lock:
            self._connection += 1
            self._connected = False
        self._subscribed.clear()
        self.counters.broker[self.config.client_id] = False
        log.warning("disconnected from the broker: %s", reason)

    def _handle_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[ReasonCode], props: Any
    ) -> None:
        failed = [r for r in reasons if r.is_failure]
        if failed:
            log.error("broker refused a subscription: %s", failed)
        else:
            self._subscribed.set()

    def _handle_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        """What `LeanClient` leaves to paho: any message but a well-formed QoS 1 one."""
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = repr(msg._topic)
        self._deliver(
            Delivery(
                topic,
                bytes(msg.payload),
                msg.mid,
                msg.qos,
                bool(msg.dup),
                self._connection,
                time.time(),
            )
        )

    def _handle_publish(self, topic: str, payload: bytes, mid: int, dup: bool) -> None:
        self._deliver(Delivery(topic, payload, mid, 1, dup, self._connection, time.time()))

    def _deliver(self, delivery: Delivery) -> None:
        self.inbox.put(delivery, len(delivery.payload) + len(delivery.topic))
        self.counters.received[self.config.client_id] += 1
