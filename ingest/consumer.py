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
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from ingest.inbox import Inbox
from ingest.metrics import Counters

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
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

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
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
        sent = 0
        with self._lock:
            for d in deliveries:
                if d.qos > 0 and d.connection == self._connection and self._connected:
                    self.client.ack(d.mid, d.qos)
                    sent += 1
        return sent

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
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = repr(msg._topic)
        payload = bytes(msg.payload)
        delivery = Delivery(
            topic, payload, msg.mid, msg.qos, bool(msg.dup), self._connection, time.time()
        )
        self.inbox.put(delivery, len(payload) + len(topic))
        self.counters.received[self.config.client_id] += 1
