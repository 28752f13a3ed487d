"""A minimal embeddable gateway for the DC-09 receiver: events in, the wire contract out.

Stands in for the shared `gateway.bridge.Bridge` until that lands: the same disk queue (a gseq
per message, stored before it is sent, replayed after a reconnect or a restart), the gateway's
own broker account, a retained status with an offline last will, and `emit(events)` returning a
future that completes only when the broker has acknowledged the message (PUBACK at QoS 1).
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.link import BrokerConfig
from gateway.queue import DiskQueue, Lane, Queued
from vigil.codec import Encoding, Event, EventBatch, GatewayStatus, encode
from vigil.topics import Topic

log = logging.getLogger(__name__)

STATUS_PERIOD_S = 10.0


class MqttSink:
    def __init__(
        self,
        gateway_id: str,
        site: str,
        queue_path: Path,
        broker: BrokerConfig,
        encoding: Encoding = Encoding.MSGPACK,
    ) -> None:
        self.gateway_id = gateway_id
        self.broker = broker
        self.encoding = encoding
        self.queue = DiskQueue(queue_path)
        self._topic = str(Topic.event(site, gateway_id))
        self._status_topic = str(Topic.status(site, gateway_id))
        self._lock = threading.Lock()
        self._futures: dict[int, concurrent.futures.Future[None]] = {}  # queue id -> future
        self._in_flight: dict[int, int] = {}  # mid -> queue id
        self._connected = False
        self._stop = threading.Event()
        self._status_thread = threading.Thread(target=self._status_loop, daemon=True)
        self._client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        cfg = self.broker
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            protocol=mqtt.MQTTv5 if cfg.protocol == "5" else mqtt.MQTTv311,
        )
        client.username_pw_set(cfg.username, cfg.password)
        client.will_set(self._status_topic, self._status("offline"), qos=1, retain=True)
        client.max_inflight_messages_set(1000)
        client.reconnect_delay_set(1, 10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        self._client.connect_async(self.broker.host, self.broker.port, self.broker.keepalive_s)
        self._client.loop_start()
        self._status_thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self._futures and self._connected and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stop.set()
        if self._connected:
            info = self._client.publish(self._status_topic, self._status("offline"), qos=1,
                                        retain=True)  # fmt: skip
            info.wait_for_publish(1.0)
        self._client.disconnect()
        self._client.loop_stop()
        with self._lock:
            for future in self._futures.values():
                if not future.done():
                    future.set_exception(RuntimeError("gateway stopped before the broker's ack"))
            self._futures.clear()
        self.queue.close()

    # ---- events in ----------------------------------------------------------------------
    def emit(self, events: list[Event]) -> concurrent.futures.Future[None]:
        """Queue the events on disk (one message, the next gseq) and send them; the future
        completes when the broker acknowledges that message."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        gw, encoding = self.gateway_id, self.encoding

        def build(gseq: int) -> bytes:
            return encode(EventBatch(gw=gw, gseq=gseq, sent=time.time(), events=events), encoding)

        with self._lock:
            item = self.queue.put(Lane.EVENT, self._topic, build)
            self._futures[item.id] = future
            if self._connected:
                self._publish(item)
        return future

    def _publish(self, item: Queued) -> None:
        info = self._client.publish(item.topic, item.payload, qos=1)
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self._in_flight[info.mid] = item.id
        else:
            log.warning("publish of gseq %d failed: %s", item.gseq, mqtt.error_string(info.rc))

    # ---- paho callbacks (its network thread) --------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s (user %r)", reason, self.broker.username)
            return
        log.info("connected to %s:%d", self.broker.host, self.broker.port)
        with self._lock:
            self._connected = True
            self._in_flight.clear()
            # Everything not acknowledged goes again, oldest first, with its own gseq.
            for item in self.queue.pending(Lane.EVENT, 0, 100_000):
                self._publish(item)
        client.publish(self._status_topic, self._status("online"), qos=1, retain=True)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._lock:
            self._connected = False
            self._in_flight.clear()
        if not self._stop.is_set():
            log.warning("broker connection lost: %s; events stay queued", reason)

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        with self._lock:
            item_id = self._in_flight.pop(mid, None)
            if item_id is None:
                return  # the retained status
            self.queue.ack([item_id])
            future = self._futures.pop(item_id, None)
        if future is None or future.done():
            return
        if reason.is_failure:
            future.set_exception(RuntimeError(f"broker refused the events: {reason}"))
        else:
            future.set_result(None)

    # ---- status -------------------------------------------------------------------------
    def _status(self, state: str) -> bytes:
        status = GatewayStatus(
            gw=self.gateway_id,
            state="online" if state == "online" else "offline",
            ts=time.time(),
            queue_depth=self.queue.rows,
        )
        return encode(status, self.encoding)

    def _status_loop(self) -> None:
        while not self._stop.wait(STATUS_PERIOD_S):
            if self._connected:
                self._client.publish(self._status_topic, self._status("online"), qos=1,
                                     retain=True)  # fmt: skip
