"""`make bench-zigbee`: an SOS press on a zigbee2mqtt hub's broker to the console's live stream,
beside a press through Vigil's own path, under the load of `bench-latency`.

The district, its load (smoke telemetry at `--load` readings per second from a process of its
own), ingest with its detector stage, alerting and the console are those of
alerting/bench_latency.py. Added: a hub's own Mosquitto (gateway/hub_sim.py), the adapter
`vigil gateway run --source zigbee2mqtt` between it and Vigil's broker, and one zigbee2mqtt SOS
button (Tuya TS0215A_sos, which reports a press as `{"action": "emergency"}`, as the
zigbee-herdsman-converters' fromZigbee converter outputs it) in each of `--presses` households.
Presses alternate between a zigbee2mqtt button (published on the hub's broker) and a Vigil panic
button (an event batch as Vigil's gateways publish it), `--gap` seconds apart, each in a
household of its own; the WebSocket client on /api/live notes when each household's incident
arrives. The last line printed is one JSON object: both paths' percentiles, the ratio of their
p99, and the load stored per second.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from websockets.sync.client import connect

from bench.alerting import LiveClient, live_headers, percentile
from bench.latency import Load, load_streams, press_targets, readings_stored
from bench.loadgen import Publisher, forget_session
from firmware_sim.district import build_district, seed
from gateway.hub_sim import HubBroker, HubPublisher
from vigil.broker_auth import BrokerAuth
from vigil.codec import Encoding, Event, EventBatch, encode
from vigil.harness import free_port, vigil_process, wait_for_port
from vigil.provisioning.zigbee import device_id
from vigil.settings import Settings
from vigil.stack import LocalStack
from vigil.topics import Topic

SOS_MODEL = "TS0215A_sos"
TARGET_P99_MS = 250.0


class OwnPresses:
    """Panic presses through Vigil's own path: event batches as Vigil's gateways publish them."""

    def __init__(self, settings: Settings) -> None:
        self._publisher = Publisher(settings, window=10)
        self._gseq: dict[str, int] = {}

    def press(self, target: tuple[str, str, str, str]) -> float:
        site, gw, dev, _household = target
        t = time.time()
        self._gseq[gw] = self._gseq.get(gw, 0) + 1
        n = self._gseq[gw]
        event = Event(dev=dev, seq=n, ts=t, rx=t, kind="button")
        batch = EventBatch(gw=gw, gseq=n, sent=t, events=[event])
        self._publisher.publish([(str(Topic.event(site, gw)), encode(batch, Encoding.MSGPACK))])
        return t

    def close(self) -> None:
        self._publisher.close()


def _sos_entry(ieee: str, name: str) -> dict[str, object]:
    """The button's `bridge/devices` entry (definition and exposes as zigbee2mqtt publishes)."""
    return {
        "ieee_address": ieee,
        "type": "EndDevice",
        "friendly_name": name,
        "supported": True,
        "definition": {
            "model": SOS_MODEL,
            "vendor": "Tuya",
            "description": "SOS button",
            "exposes": [
                {"type": "numeric", "name": "battery", "property": "battery", "access": 1},
                {"type": "enum", "name": "action", "property": "action", "access": 1,
                 "values": ["emergency"]},
            ],
        },
    }  # fmt: skip


def _percentiles(prefix: str, values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        f"{prefix}_p50_ms": round(percentile(values, 50), 1),
        f"{prefix}_p95_ms": round(percentile(values, 95), 1),
        f"{prefix}_p99_ms": round(percentile(values, 99), 1),
        f"{prefix}_max_ms": round(max(values), 1),
    }


def run_bench(  # noqa: PLR0915 - one run, start to end
    settings: Settings,
    stack: LocalStack,
    dsn: str,
    *,
    load: float,
    presses: int,
    gateways: int,
    gap_s: float,
    workdir: Path,
) -> dict[str, float | int]:
    district = build_district(11, gateways, 50)
    with psycopg.connect(dsn, autocommit=True) as conn:
        seed(conn, district)
    ids = [g.id for g in district.gateways]
    quiet = ids[: max(1, len(ids) // 4)]
    # Vigil's own presses: panic buttons behind the quiet gateways (as bench-latency); the
    # zigbee2mqtt buttons: one in each of as many other households (their hub is its own gateway).
    own_targets = press_targets(district, quiet)[:presses]
    taken = {t[3] for t in own_targets}
    z2m_homes = [h.id for h in district.households if h.id not in taken][: len(own_targets)]
    hub_gw = f"z2m-bench-{uuid.uuid4().hex[:6]}"
    site = district.gateways[0].site_id
    buttons = {h: (f"0xa4c13800{i:08x}", f"home/{h}/sos") for i, h in enumerate(z2m_homes)}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "insert into gateways (id, site_id, mqtt_username) values (%s, %s, %s)",
            (hub_gw, site, hub_gw),
        )
        for household, (ieee, _) in buttons.items():
            conn.execute(
                "insert into devices (id, device_type, gateway_id, household_id, source, model, "
                "external_id, supervision_s) values (%s, 'sos', %s, %s, 'zigbee2mqtt', %s, %s, "
                "14400)",
                (device_id(ieee), hub_gw, household, SOS_MODEL, ieee),
            )
    password = uuid.uuid4().hex
    auth = BrokerAuth.for_stack(stack)
    auth.add_gateway(hub_gw, password, site)
    mqtt_port = settings.mqtt_port if settings.mqtt_port is not None else settings.stack_mqtt_port
    env = {
        **os.environ,
        "VIGIL_DATABASE_URL": dsn,
        "VIGIL_MQTT_PORT": str(mqtt_port),
        "VIGIL_VAR_DIR": str(workdir),
        "VIGIL_LOG_LEVEL": "WARNING",
        "VIGIL_METRICS_PORT": "0",
    }
    port = free_port()
    prefix = f"bench-zigbee-{uuid.uuid4().hex[:6]}"
    pressed_own: dict[str, float] = {}
    pressed_z2m: dict[str, float] = {}
    try:
        with HubBroker() as hub:
            adapter_env = env | {
                "VIGIL_GATEWAY_PASSWORD": password,
                "VIGIL_HUB_PASSWORD": hub.password,
                "VIGIL_LOG_LEVEL": "WARNING",
            }
            adapter = ["gateway", "run", "--source", "zigbee2mqtt", "--id", hub_gw, "--site", site,
                       "--queue", str(workdir / "z2m.queue.sqlite"), "--mqtt-port", str(mqtt_port),
                       "--hub-host", "127.0.0.1", "--hub-port", str(hub.port),
                       "--hub-user", hub.username, "--log-level", "WARNING"]  # fmt: skip
            pub = HubPublisher(hub)
            pub.bridge_state(True)
            pub.devices([_sos_entry(ieee, name) for ieee, name in buttons.values()])
            with (
                vigil_process(
                    ["ingest", "run", "--client-prefix", prefix], env, workdir / "ingest.log"
                ),
                vigil_process(["alerting", "run"], env, workdir / "alerting.log"),
                vigil_process(["console", "run", "--port", str(port)], env, workdir / "serve.log"),
                vigil_process(adapter, adapter_env, workdir / "adapter.log"),
            ):
                wait_for_port(port)
                time.sleep(3.0)  # ingest subscribes, the adapter reads the hub's devices
                url = f"ws://127.0.0.1:{port}/api/live"
                with connect(url, open_timeout=10, additional_headers=live_headers(dsn)) as ws:
                    client = LiveClient(ws)
                    with Load(settings, load_streams(district, ids[len(quiet) :]), load) as gen:
                        time.sleep(5.0)  # the load reaches its pace
                        stored0, t0 = readings_stored(dsn), time.monotonic()
                        ours = OwnPresses(settings)
                        for target, home in zip(own_targets, z2m_homes, strict=True):
                            pressed_own[target[3]] = ours.press(target)
                            time.sleep(gap_s / 2)
                            pressed_z2m[home] = time.time()
                            pub.state(buttons[home][1], {"action": "emergency", "linkquality": 96},
                                      retain=False)  # fmt: skip
                            time.sleep(gap_s / 2)
                        ours.close()
                        wanted = set(pressed_own) | set(pressed_z2m)
                        deadline = time.monotonic() + 15
                        while not wanted <= set(client.first_seen) and time.monotonic() < deadline:
                            time.sleep(0.05)
                        stored1, t1 = readings_stored(dsn), time.monotonic()
                        offered = gen.offered
            pub.close()
    finally:
        for lane in ("", "-events"):
            forget_session(settings, f"{prefix}-0of1{lane}")
        forget_session(settings, f"vigil-gw-{hub_gw}")
        auth.remove_gateway(hub_gw)

    def latencies(pressed: dict[str, float]) -> list[float]:
        seen = client.first_seen
        return [(seen[h] - t) * 1000 for h, t in pressed.items() if h in seen]

    z2m, own = latencies(pressed_z2m), latencies(pressed_own)
    if not z2m:
        raise RuntimeError(f"no zigbee2mqtt press reached the live stream; see logs in {workdir}")
    result: dict[str, float | int] = {
        "presses_each": presses,
        "z2m_received": len(z2m),
        "own_received": len(own),
        **_percentiles("z2m", z2m),
        **_percentiles("own", own),
        "load_offered_readings": offered,
        "load_readings_per_s": round((stored1 - stored0) / (t1 - t0)),
        "target_z2m_p99_ms": TARGET_P99_MS,
    }
    if own:
        result["z2m_p99_over_own_p99"] = round(
            float(result["z2m_p99_ms"]) / max(float(result["own_p99_ms"]), 1e-3), 2
        )
    return result


def main(argv: list[str] | None = None) -> None:
    from vigil.db.migrate import migrate
    from vigil.db.timescale import Retention, configure
    from vigil.settings import get_settings

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--load", type=float, default=55_000.0, help="readings per second offered")
    parser.add_argument("--presses", type=int, default=30, help="presses of each kind")
    parser.add_argument(
        "--gateways", type=int, default=8, help="district gateways, 50 devices each"
    )
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between two presses")
    args = parser.parse_args(argv)
    settings = get_settings()
    stack = LocalStack(settings)
    started_here = not stack.status()["postgres"]["running"]
    stack.up()
    name = f"bench_zigbee_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.admin_dsn(), autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    dsn = stack.admin_dsn(name)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            migrate(conn)
            configure(conn, Retention(settings.raw_retention_days, settings.rollup_retention_days))
        with tempfile.TemporaryDirectory(prefix="vigil-bench-zigbee-") as workdir:
            result = run_bench(
                settings, stack, dsn, load=args.load, presses=args.presses,
                gateways=args.gateways, gap_s=args.gap, workdir=Path(workdir),
            )  # fmt: skip
    finally:
        with psycopg.connect(stack.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
        if started_here:
            stack.down()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
