"""A zigbee2mqtt hub as a Vigil gateway: the hub's MQTT topics in, Vigil's wire contract out.

Subscribes to the hub's broker under its base topic: `bridge/devices` (paired devices with their
definition and exposes), `bridge/state` (the hub itself), `<friendly_name>` (a device's state)
and `<friendly_name>/availability`. Each device's exposes are mapped to Vigil kinds as data
(gateway/zigbee2mqtt.toml, gateway/zigbee2mqtt_map.py); its state snapshots go through the state
tracker (gateway/foreign_state.py) so only changes become events; the events and telemetry go
out through a Bridge (gateway/bridge.py): disk queue, gseq, events first, status, last will.

Vigil device ids are `zb-<IEEE address>` (stable whatever the friendly name). Devices whose
exposes map to nothing are logged and listed in the report file (`vigil gateway show`), and
ignored. A payload that is not a JSON object is refused (logged, counted in the gateway's status)
and nothing else is lost. Presses found in retained messages (a broker replaying the last state
on reconnect) are not presses: only live messages carry them.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.bridge import Bridge, Reading
from gateway.foreign_state import Change, ForeignState
from gateway.zigbee2mqtt_map import DevicePlan, ExposeMap, unmapped_summary

log = logging.getLogger(__name__)

SOURCE = "zigbee2mqtt"
MAX_PENDING = 10_000  # states of devices not yet in bridge/devices, kept until it arrives


@dataclass(frozen=True)
class HubConfig:
    """The hub's broker (the one zigbee2mqtt publishes to)."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None
    base_topic: str = "zigbee2mqtt"
    client_id: str = "vigil-z2m"
    keepalive_s: int = 30

    def __post_init__(self) -> None:
        if (
            not self.base_topic
            or any(c in self.base_topic for c in "#+")
            or (self.base_topic.endswith("/"))
        ):
            raise ValueError(f"invalid base topic {self.base_topic!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"invalid hub port {self.port}")


def _online(payload: bytes) -> bool | None:
    """zigbee2mqtt's `{"state":"online"}` or the legacy plain `online` / `offline`."""
    text = payload.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            value = json.loads(text).get("state")
        except (ValueError, AttributeError):
            return None
    else:
        value = text
    return {"online": True, "offline": False}.get(str(value).lower())


def _last_seen(payload: Mapping[str, Any], now: float) -> float:
    """The device time zigbee2mqtt gives (`last_seen`: epoch ms or ISO 8601), else `now`."""
    raw = payload.get("last_seen")
    seen: float | None = None
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        seen = raw / 1000.0
    elif isinstance(raw, str):
        try:
            seen = datetime.fromisoformat(raw).timestamp()
        except ValueError:
            seen = None
    # A hub clock far off is not believed (the event keeps its receive time).
    return seen if seen is not None and abs(seen - now) < 86_400 else now


class Zigbee2Mqtt:
    """The adapter. `start()` connects to the hub; callbacks run on paho's network thread."""

    def __init__(
        self,
        hub: HubConfig,
        bridge: Bridge,
        tracker: ForeignState,
        mapping: ExposeMap | None = None,
        report_path: Path | None = None,
    ) -> None:
        self.hub = hub
        self.bridge = bridge
        self.tracker = tracker
        self.mapping = mapping or ExposeMap.load()
        self.report_path = report_path
        self.plans: dict[str, DevicePlan] = {}  # friendly name -> plan
        self.unmapped: list[dict[str, Any]] = []
        self._devices_known = False
        self._pending: dict[tuple[str, str], bytes] = {}  # (name, what) -> payload, before plans
        self._unknown_logged: set[str] = set()
        self._hub_online: bool | None = None
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=hub.client_id, protocol=mqtt.MQTTv311,
            clean_session=True,
        )  # fmt: skip
        if hub.username:
            self.client.username_pw_set(hub.username, hub.password)
        self.client.on_connect = self._connected
        self.client.on_disconnect = self._disconnected
        self.client.on_connect_fail = self._connect_failed
        self.client.on_message = self._message
        self.client.reconnect_delay_set(1, 5)

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        self.client.connect_async(self.hub.host, self.hub.port, self.hub.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _connected(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("hub broker %s:%d refused us: %s", self.hub.host, self.hub.port, reason)
            self.bridge.set_upstream(False, f"the hub's broker refused us: {reason}")
            return
        log.info("connected to the hub's broker %s:%d", self.hub.host, self.hub.port)
        client.subscribe(f"{self.hub.base_topic}/#", qos=1)

    def _connect_failed(self, _c: mqtt.Client, _u: Any) -> None:
        self._hub_online = None
        self.bridge.set_upstream(False, "cannot reach the hub's broker")

    def _disconnected(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        log.warning("lost the hub's broker: %s", reason)
        self._hub_online = None
        self.bridge.set_upstream(False, "the hub's broker is unreachable")

    # ---- messages ----------------------------------------------------------------------
    def _message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self.handle(msg.topic, bytes(msg.payload), retained=bool(msg.retain))
        except Exception:  # one bad message must not stop the adapter
            log.exception("message on %s could not be handled", msg.topic)
            self.bridge.count_rejected()

    def handle(self, topic: str, payload: bytes, *, retained: bool = False) -> None:
        """One message from the hub's broker (public for tests and replays)."""
        base = self.hub.base_topic + "/"
        if not topic.startswith(base):
            return
        rest = topic[len(base) :]
        if rest == "bridge/devices":
            self._bridge_devices(payload)
        elif rest == "bridge/state":
            self._bridge_state(payload)
        elif rest.startswith("bridge/"):
            return
        elif rest.endswith("/availability"):
            self._device_message(rest[: -len("/availability")], "availability", payload, retained)
        elif rest.endswith(("/set", "/get")) or "/set/" in rest or "/get/" in rest:
            return
        else:
            self._device_message(rest, "state", payload, retained)

    def _bridge_state(self, payload: bytes) -> None:
        online = _online(payload)
        if online is None:
            self._refuse("bridge/state", payload, "not online/offline")
            return
        self._hub_online = online
        self.bridge.set_upstream(
            online, "zigbee2mqtt bridge/state " + ("online" if online else "offline")
        )

    def _bridge_devices(self, payload: bytes) -> None:
        try:
            entries = json.loads(payload)
        except ValueError as exc:
            self._refuse("bridge/devices", payload, f"not JSON: {exc}")
            return
        if not isinstance(entries, list):
            self._refuse("bridge/devices", payload, "not a list")
            return
        plans: dict[str, DevicePlan] = {}
        unmapped: list[dict[str, Any]] = []
        for entry in entries:
            if not isinstance(entry, Mapping) or entry.get("type") == "Coordinator":
                continue
            try:
                plan = self.mapping.plan(entry)
            except (ValueError, TypeError, KeyError) as exc:
                log.warning("device %s: %s", entry.get("friendly_name"), exc)
                plan = None
            if plan is None:
                summary = unmapped_summary(entry)
                unmapped.append(summary)
                continue
            plans[plan.friendly_name] = plan
        for summary in unmapped:
            log.warning(
                "unmapped zigbee device %s (%s %s), ignored: exposes %s",
                summary["friendly_name"], summary["vendor"], summary["model"],
                ", ".join(summary["exposes"]) or "none",
            )  # fmt: skip
        with self._lock:
            self.plans = plans
            self.unmapped = unmapped
            self._devices_known = True
            pending, self._pending = self._pending, {}
        log.info("hub lists %d devices Vigil maps, %d unmapped", len(plans), len(unmapped))
        self._write_report()
        for (name, what), data in pending.items():
            self._device_message(name, what, data, retained=True)

    def _device_message(self, name: str, what: str, payload: bytes, retained: bool) -> None:
        with self._lock:
            plan = self.plans.get(name)
            if plan is None and not self._devices_known:
                # Retained states may come before bridge/devices: kept until it arrives.
                if len(self._pending) < MAX_PENDING:
                    self._pending[(name, what)] = payload
                return
        if plan is None:
            if name not in self._unknown_logged:
                self._unknown_logged.add(name)
                log.info("message from %s, which bridge/devices does not map: ignored", name)
            return
        if what == "availability":
            self._availability(plan, payload)
        else:
            self._state(plan, payload, retained)

    def _availability(self, plan: DevicePlan, payload: bytes) -> None:
        online = _online(payload)
        if online is None:
            self._refuse(f"{plan.friendly_name}/availability", payload, "not online/offline")
            return
        now = time.time()
        change = self.tracker.changes(
            plan.vigil_id, {"availability": 1.0 if online else 0.0}, now, detail=self._detail(plan)
        )
        if change.events:
            log.info("%s (%s): %s", plan.vigil_id, plan.friendly_name,
                     "online" if online else "unavailable")  # fmt: skip
            self.bridge.emit(change.events, state=[change])

    def _state(self, plan: DevicePlan, payload: bytes, retained: bool) -> None:
        try:
            data = json.loads(payload)
        except ValueError as exc:
            self._refuse(plan.friendly_name, payload, f"not JSON: {exc}")
            return
        if not isinstance(data, dict):
            self._refuse(plan.friendly_name, payload, "not a JSON object")
            return
        taken = plan.read(data)
        if taken.refused:
            log.warning("%s: values not as exposed, ignored: %s", plan.friendly_name,
                        ", ".join(taken.refused[:5]))  # fmt: skip
        now = time.time()
        ts = _last_seen(data, now)
        detail = self._detail(plan)
        changes: list[Change] = []
        if taken.states:
            extra = {"reason": "panic"} if "sos" in taken.states else {}
            changes.append(
                self.tracker.changes(plan.vigil_id, taken.states, now, ts=ts, detail=detail | extra)
            )
        if not retained:
            for press in taken.presses:
                changes.append(
                    self.tracker.momentary(
                        plan.vigil_id, press.kind, press.value, now, ts=ts,
                        detail=detail | {"reason": press.reason, "code": press.code},
                    )
                )  # fmt: skip
            if taken.readings:
                self.bridge.read(
                    Reading(plan.vigil_id, r.metric, r.value, ts) for r in taken.readings
                )
        events = [e for c in changes for e in c.events]
        if events:
            log.info("%s (%s): %s", plan.vigil_id, plan.friendly_name,
                     ", ".join(f"{e.kind}={e.value:g} #{e.seq}" for e in events))  # fmt: skip
            self.bridge.emit(events, state=changes)
        else:
            log.debug("%s: %s -> %s, no change", plan.vigil_id, payload[:200], taken.states)

    @staticmethod
    def _detail(plan: DevicePlan) -> dict[str, Any]:
        return {
            "source": SOURCE,
            "model": plan.model,
            "ieee": plan.ieee,
            "zone": plan.friendly_name,
        }

    def _refuse(self, where: str, payload: bytes, why: str) -> None:
        self.bridge.count_rejected()
        log.warning("refused message on %s (%s): %r", where, why, payload[:200])

    # ---- report ------------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        with self._lock:
            return {
                "source": SOURCE,
                "hub": f"{self.hub.host}:{self.hub.port}/{self.hub.base_topic}",
                "hub_online": self._hub_online,
                "updated": time.time(),
                "devices": [
                    {
                        "ieee_address": p.ieee,
                        "friendly_name": p.friendly_name,
                        "model": p.model,
                        "vendor": p.vendor,
                        "device_id": p.vigil_id,
                        "device_type": p.vigil_type,
                        "kinds": p.kinds,
                    }
                    for p in self.plans.values()
                ],
                "unmapped": list(self.unmapped),
            }

    def _write_report(self) -> None:
        if self.report_path is None:
            return
        tmp = self.report_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.report(), ensure_ascii=False, indent=2), "utf-8")
        tmp.replace(self.report_path)


def report_path_for(queue_path: Path) -> Path:
    """Where the adapter lists the hub's devices (beside its queue)."""
    return queue_path.with_name(queue_path.name.removesuffix(".queue.sqlite") + ".zigbee2mqtt.json")
