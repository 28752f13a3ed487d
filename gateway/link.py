"""The gateway's MQTT connection, driven from the gateway's own selector loop (no paho thread).

A fresh paho client is made for every connection attempt: paho would otherwise resend its own
copy of the unacknowledged messages on reconnect, while the disk queue, which replays them in
the right order (events first), is the only owner of what still has to go out.
"""

from __future__ import annotations

import logging
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.queue import Lane, Queued
from vigil.backoff import Backoff

log = logging.getLogger(__name__)

# Up to 20 % off each reconnect delay: gateways cut off by one broker restart spread out.
GATEWAY_JITTER = 0.2
SESSION_EXPIRY_S = 7 * 24 * 3600  # downlink commands wait this long for a gateway that is away


@dataclass(frozen=True)
class BrokerConfig:
    host: str
    port: int
    username: str
    password: str
    client_id: str
    protocol: Literal["3.1.1", "5"] = "5"
    keepalive_s: int = 30


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes


OnCommand = Callable[[str, bytes], None]


class BrokerLink:
    """Connects with backoff, publishes within a bounded window and collects PUBACKs.

    `window` bounds the messages awaiting PUBACK (paho fails past 65,535); telemetry may use
    all but `event_reserve` of it, so an alarm never waits for a free slot behind telemetry.
    """

    def __init__(
        self,
        config: BrokerConfig,
        selector: selectors.BaseSelector,
        *,
        will: Will,
        subscribe: str,
        on_connected: Callable[[], None],
        on_command: OnCommand,
        window: int = 100,
        event_reserve: int = 20,
        backoff: Backoff | None = None,
    ) -> None:
        if not 0 < event_reserve < window <= 65_535:
            raise ValueError("want 0 < event_reserve < window <= 65535")
        self.config = config
        self._selector = selector
        self._will = will
        self._subscribe = subscribe
        self._on_connected = on_connected
        self._on_command = on_command
        self.window = window
        self.event_reserve = event_reserve
        self.backoff = backoff or Backoff(jitter=GATEWAY_JITTER)
        self._client: mqtt.Client | None = None
        self._sock: socket.socket | None = None
        self._want_write = False
        self.connected = False
        self.in_flight: dict[int, Queued] = {}
        self.acked: list[int] = []
        self._failed = False  # a failure the next tick must count in the backoff
        self._failing = False  # since the last good connection; logs once per outage

    # ---- connection --------------------------------------------------------------------
    def tick(self, now: float) -> None:
        """Connect when the backoff allows; keep an open connection alive."""
        self._count_failure(now)
        if self._client is None:
            if self.backoff.ready(now):
                self._connect()
                self._count_failure(now)
        else:
            self._client.loop_misc()
        self._sync_write_interest()

    def _count_failure(self, now: float) -> None:
        # Failures seen inside paho callbacks have no clock at hand; the next tick has one.
        if self._failed:
            self._failed = False
            self.backoff.failed(now)

    def _connect(self) -> None:
        cfg = self.config
        v5 = cfg.protocol == "5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
        )
        client.username_pw_set(cfg.username, cfg.password)
        client.will_set(self._will.topic, self._will.payload, qos=1, retain=True)
        # Room for our window plus the retained status, which does not go through the queue.
        client.max_inflight_messages_set(self.window + 4)
        client.on_socket_open = self._socket_opened
        client.on_socket_close = self._socket_closed
        client.on_connect = self._connack
        client.on_disconnect = self._disconnected
        client.on_publish = self._puback
        client.on_message = self._message
        self._client = client
        properties = None
        if v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
        try:
            if v5:
                client.connect(cfg.host, cfg.port, cfg.keepalive_s, clean_start=False,
                               properties=properties)  # fmt: skip
            else:
                client.connect(cfg.host, cfg.port, cfg.keepalive_s)
        except OSError as exc:
            self._lost(f"cannot reach broker {cfg.host}:{cfg.port}: {exc}")

    def _socket_opened(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        # Without NODELAY an alarm written after a large batch can wait for a delayed ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._want_write = False
        self._selector.register(sock, selectors.EVENT_READ, self._io)

    def _socket_closed(self, _c: mqtt.Client, _u: Any, sock: Any) -> None:
        if sock is self._sock:
            self._selector.unregister(self._sock)
            self._sock = None

    def _connack(self, client: mqtt.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s (user %r)", reason, self.config.username)
            return
        self.connected = True
        self._failing = False
        self.backoff.succeeded()
        client.subscribe(self._subscribe, qos=1)
        log.info("connected to %s:%d", self.config.host, self.config.port)
        self._on_connected()

    def _disconnected(self, _c: mqtt.Client, _u: Any, _flags: Any, reason: Any, _p: Any) -> None:
        self._lost(f"connection lost: {reason}")

    def _lost(self, why: str) -> None:
        if not self._failing:
            log.warning("%s; %d messages in flight stay queued", why, len(self.in_flight))
        self._failing = True
        self.connected = False
        self.in_flight.clear()
        self._client = None
        self._failed = True

    # ---- I/O ---------------------------------------------------------------------------
    def _io(self, mask: int) -> None:
        client = self._client
        if client is None:
            return
        if mask & selectors.EVENT_READ:
            client.loop_read()
        if self._client is client and mask & selectors.EVENT_WRITE:
            client.loop_write()

    def _sync_write_interest(self) -> None:
        want = self._client is not None and self._sock is not None and self._client.want_write()
        if want != self._want_write and self._sock is not None:
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if want else 0)
            self._selector.modify(self._sock, events, self._io)
            self._want_write = want

    def room(self, lane: Lane) -> int:
        """How many more messages of `lane` may be sent before PUBACKs come back."""
        if not self.connected:
            return 0
        limit = self.window if lane is Lane.EVENT else self.window - self.event_reserve
        return max(0, limit - len(self.in_flight))

    def publish(self, item: Queued) -> bool:
        """Hand `item` to the broker; False if it could not be sent now (it stays queued)."""
        if self._client is None or not self.connected:
            return False
        info = self._client.publish(item.topic, item.payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning("publish of gseq %d failed: %s", item.gseq, mqtt.error_string(info.rc))
            return False
        self.in_flight[info.mid] = item
        return True

    def publish_retained(self, topic: str, payload: bytes) -> None:
        if self._client is not None and self.connected:
            self._client.publish(topic, payload, qos=1, retain=True)

    def _puback(self, _c: mqtt.Client, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        item = self.in_flight.pop(mid, None)
        if item is None:
            return  # the retained status
        if reason.is_failure:
            # MQTT 5 says why (e.g. not authorised by the ACL); resending would fail the same way.
            log.error("broker refused gseq %d on %s: %s", item.gseq, item.topic, reason)
        self.acked.append(item.id)

    def take_acks(self) -> list[int]:
        acked, self.acked = self.acked, []
        return acked

    def _message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        self._on_command(message.topic, bytes(message.payload))

    def close(self, goodbye: Will | None, timeout_s: float = 1.0) -> None:
        """Publish `goodbye` (retained) and wait briefly for its PUBACK, then disconnect."""
        client = self._client
        if client is None:
            return
        if goodbye is not None and self.connected:
            info = client.publish(goodbye.topic, goodbye.payload, qos=1, retain=True)
            deadline = time.monotonic() + timeout_s
            while not info.is_published() and self._client is client:
                if time.monotonic() > deadline:
                    break
                for key, mask in self._selector.select(0.05):
                    if key.data == self._io:
                        self._io(mask)
        self.connected = False
        self._failing = True  # a goodbye, not an outage: nothing to warn about
        if self._client is client:
            client.disconnect()  # closes the socket, which unregisters it
        self._client = None
