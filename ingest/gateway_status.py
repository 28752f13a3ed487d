"""The gateways' status messages, read once per ingest worker and handed to whoever follows them:
the registry's live status (`ingest.liveness`) and the detector stage (gateway offline alerts).

One MQTT client subscribes to every gateway's retained status topic (`vigil/v1/+/+/status`) and
keeps the statuses of the sites this worker owns. A status speaks for the gateway its *topic*
names: the broker lets a gateway publish only on its own topic, while the body is whatever the
gateway wrote, so a body naming another gateway, or holding a time that is not a finite number
or runs ahead of ours, is refused here (`vigil.status_check`), before any state sees it. The
same client reads the broker's own queue figures (`$SYS`, `ingest.broker_watch`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest.broker_watch import TOPICS as BROKER_TOPICS
from ingest.broker_watch import BrokerWatch
from ingest.consumer import BrokerConfig
from vigil.status_check import DEFAULT_MAX_FUTURE_S, StatusRefusedError, check_status
from vigil.topics import status_filter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GatewayStatus:
    gateway: str  # from the topic
    site: str  # from the topic
    online: bool
    ts: float  # the gateway's own time for the status: finite, not ahead of ours
    retained: bool  # delivered at subscribe time: it may be old
    received: float  # this worker's wall clock when it arrived


StatusListener = Callable[[GatewayStatus], None]


def read_status(
    topic: str,
    payload: bytes | bytearray,
    *,
    retained: bool,
    received: float,
    max_future_s: float = DEFAULT_MAX_FUTURE_S,
) -> GatewayStatus:
    """The status a message carries, or StatusRefusedError (`vigil.status_check`): its topic
    names the gateway, its time must be a sane number."""
    trusted = check_status(
        topic, bytes(payload), retained=retained, now=received, max_future_s=max_future_s
    )
    return GatewayStatus(
        trusted.gateway_id, trusted.site, trusted.online, trusted.sent, retained, received
    )


class GatewayStatusFollower:
    """One subscription to the gateways' status for an ingest worker, fanned out to listeners."""

    def __init__(
        self,
        broker: BrokerConfig,
        owns: Callable[[str], bool],
        *,
        max_future_s: float = DEFAULT_MAX_FUTURE_S,
        watch: BrokerWatch | None = None,
    ) -> None:
        self.broker = broker
        self.owns = owns
        self.max_future_s = max_future_s
        self.watch = watch
        self.refused = 0
        self._listeners: list[StatusListener] = []
        self._lock = threading.Lock()
        self._mqtt: mqtt.Client | None = None

    def subscribe(self, listener: StatusListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def start(self) -> None:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{self.broker.client_id}-status",
            protocol=mqtt.MQTTv5,
        )
        client.username_pw_set(self.broker.username, self.broker.password)
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        topics = [(status_filter(), 1)]
        if self.watch is not None:
            topics += [(topic, 0) for topic in BROKER_TOPICS]
        client.on_connect = lambda c, *_: c.subscribe(topics)
        client.on_message = self._on_message
        client.connect_async(self.broker.host, self.broker.port, keepalive=self.broker.keepalive_s)
        client.loop_start()
        self._mqtt = client

    def close(self) -> None:
        if self._mqtt is not None:
            self._mqtt.disconnect()
            self._mqtt.loop_stop()
            self._mqtt = None

    def deliver(self, status: GatewayStatus) -> None:
        """Hand a status of an owned site to every listener."""
        if not self.owns(status.site):
            return
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(status)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.startswith("$SYS/"):
            if self.watch is not None:
                self.watch.on_sys(msg.topic, bytes(msg.payload), retained=bool(msg.retain))
            return
        try:
            status = read_status(
                msg.topic,
                msg.payload,
                retained=bool(msg.retain),
                received=time.time(),
                max_future_s=self.max_future_s,
            )
        except StatusRefusedError as exc:
            self.refused += 1
            log.warning("refused gateway status on %s: %s", msg.topic, exc)
            return
        self.deliver(status)
