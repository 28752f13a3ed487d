"""`vigil gateway run --source zigbee2mqtt`: a config file and options to a running adapter.

The config file (TOML) holds the hub's broker and, optionally, per-model overrides of the
exposes mapping:

    [hub]
    host = "192.168.10.2"
    port = 1883
    username = "vigil"
    password = "..."            # or VIGIL_HUB_PASSWORD
    base_topic = "zigbee2mqtt"

    [models."HS1EB/HS1EB-E"]    # zigbee2mqtt's model name
    type = "sos"
    ignore = ["battery"]
    binary = { alarm = "smoke_alarm" }

Command-line options win over the file.
"""

from __future__ import annotations

import logging
import signal
import threading
import tomllib
from pathlib import Path
from typing import Any

from rich.console import Console

from gateway.bridge import Bridge, BridgeConfig
from gateway.foreign_state import ForeignState
from gateway.link import BrokerConfig
from gateway.zigbee2mqtt import HubConfig, Zigbee2Mqtt, report_path_for
from gateway.zigbee2mqtt_map import ExposeMap, MappingError
from vigil.codec import Encoding

log = logging.getLogger(__name__)
err = Console(stderr=True)

HUB_KEYS = frozenset({"host", "port", "username", "password", "base_topic", "client_id"})


def load_config(path: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """([hub], [models]) of the config file; ValueError says what is wrong."""
    if path is None:
        return {}, {}
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from exc
    unknown = set(raw) - {"hub", "models"}
    if unknown:
        raise ValueError(f"{path}: unknown sections {sorted(unknown)} (want [hub], [models])")
    hub = dict(raw.get("hub", {}))
    bad = set(hub) - HUB_KEYS
    if bad:
        raise ValueError(f"{path} [hub]: unknown keys {sorted(bad)}")
    return hub, dict(raw.get("models", {}))


def run_zigbee2mqtt(
    *,
    gateway_id: str,
    site: str,
    broker: BrokerConfig,
    encoding: Encoding,
    queue_path: Path,
    status_s: float,
    config: Path | None,
    hub_options: dict[str, Any],
) -> int:
    """Run until SIGTERM or Ctrl-C; returns the exit code (2: bad configuration)."""
    try:
        hub_file, models = load_config(config)
        hub_settings = hub_file | hub_options
        if "host" not in hub_settings:
            raise ValueError("no hub broker: pass --hub-host or [hub] host in --config")
        hub_settings.setdefault("client_id", f"vigil-z2m-{gateway_id}")
        hub = HubConfig(**hub_settings)
        mapping = ExposeMap.load(models)
        bridge = Bridge(
            BridgeConfig(
                gateway_id=gateway_id,
                site=site,
                queue_path=queue_path,
                broker=broker,
                encoding=encoding,
                status_interval_s=status_s,
            )
        )
        tracker = ForeignState(queue_path)
    except (ValueError, TypeError, OSError, MappingError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        return 2
    adapter = Zigbee2Mqtt(hub, bridge, tracker, mapping, report_path_for(queue_path))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    bridge.start()
    adapter.start()
    log.info(
        "zigbee2mqtt hub %s:%d (%s) -> gateway %s, site %s",
        hub.host, hub.port, hub.base_topic, gateway_id, site,
    )  # fmt: skip
    stop.wait()
    adapter.stop()
    bridge.stop()
    return 0
