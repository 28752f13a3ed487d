"""`make bench-platform-latency`: an NB-IoT SOS press pushed by the carrier's platform, to the
console's live stream, under `bench-latency`'s background load.

The same district, load generator and processes as `alerting/bench_latency.py` (ingest with
its detector stage, alerting, the console's live stream), plus `vigil platform run`. Half of
the quiet households get an NB-IoT SOS button registered behind the platform receiver; each is
pressed by a signed CTWing push over HTTP, and the time from sending the push to its incident
on /api/live is noted. The other quiet households' own panic buttons are pressed the native
way (an event batch published by their gateway) in the same run: the baseline. The last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from websockets.sync.client import connect

from bench.alerting import LiveClient, live_headers, percentile
from bench.latency import Load, load_streams, press, press_targets
from bench.loadgen import forget_session
from firmware_sim.district import build_district, seed
from gateway.platforms import fake
from vigil.broker_auth import BrokerAuth
from vigil.harness import free_port, vigil_process, wait_for_port
from vigil.settings import Settings
from vigil.stack import LocalStack

TOKEN = "bench-latency-token"  # noqa: S105 - the fake platform's own, on loopback
PRODUCT = "bench-sos"


def _register(dsn: str, gateway: str, site: str, households: list[str]) -> dict[str, str]:
    """An NB-IoT SOS button per household behind the receiver's gateway; IMEI -> household."""
    imeis = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("insert into gateways (id, site_id, mqtt_username) values (%s, %s, %s)",
                     (gateway, site, gateway))  # fmt: skip
        for n, household in enumerate(households):
            dev, imei = f"nbsos-{n}", f"86900000{n:07d}"
            conn.execute(
                "insert into devices (id, device_type, gateway_id, household_id, source, model, "
                "external_id, supervision_s) values (%s, 'sos', %s, %s, 'ctwing', "
                "'nb-sos-button', %s, 86400)",
                (dev, gateway, household, imei),
            )
            conn.execute(
                "insert into platform_devices (device_id, source, imei, platform_id, product, "
                "profile) values (%s, 'ctwing', %s, %s, %s, 'nb-sos-button')",
                (dev, imei, f"pid-{n}", PRODUCT),
            )
            imeis[imei] = household
    return imeis


def _push(http: httpx.Client, url: str, imeis: dict[str, str], gap_s: float) -> dict[str, float]:
    """One signed SOS push per button, `gap_s` apart; returns when each household's was sent."""
    sent = {}
    for n, (imei, household) in enumerate(imeis.items()):
        body = fake.ctwing_body(fake.ctwing_data(imei, f"pid-{n}", PRODUCT, {"sos": 1}))
        sent[household] = time.time()
        r = http.post(url, content=body)
        if r.status_code != 200:
            raise RuntimeError(f"push answered {r.status_code}: {r.text}")
        time.sleep(gap_s)
    return sent


def run_bench(settings: Settings, stack: LocalStack, dsn: str, *, load: float, presses: int,
              gateways: int, workdir: Path) -> dict[str, float | int]:  # fmt: skip
    district = build_district(11, gateways, 50)
    with psycopg.connect(dsn, autocommit=True) as conn:
        seed(conn, district)
    ids = [g.id for g in district.gateways]
    quiet = ids[: max(1, len(ids) // 4)]
    targets = press_targets(district, quiet)[: 2 * presses]
    native, pushed = targets[::2], targets[1::2]
    site = district.gateways[0].site_id
    gw, password = f"nbiot-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    BrokerAuth.for_stack(stack).add_gateway(gw, password)
    imeis = _register(dsn, gw, site, [t[3] for t in pushed])
    (workdir / "platform.toml").write_text(
        f'gateway_id = "{gw}"\nsite = "{site}"\nack_timeout_s = 10\n'
        '[[accounts]]\nname = "bench"\nplatform = "ctwing"\ntoken_env = "BENCH_CTWING_TOKEN"\n'
    )
    mqtt_port = settings.mqtt_port if settings.mqtt_port is not None else settings.stack_mqtt_port
    env = {**os.environ, "VIGIL_DATABASE_URL": dsn, "VIGIL_MQTT_PORT": str(mqtt_port),
           "VIGIL_VAR_DIR": str(workdir), "VIGIL_LOG_LEVEL": "WARNING", "VIGIL_METRICS_PORT": "0",
           "VIGIL_GATEWAY_PASSWORD": password, "BENCH_CTWING_TOKEN": TOKEN}  # fmt: skip
    port, http_port = free_port(), free_port()
    prefix = f"bench-plat-{uuid.uuid4().hex[:6]}"
    platform = ["platform", "run", "--config", str(workdir / "platform.toml"), "--port",
                str(http_port), "--log-level", "WARNING"]  # fmt: skip
    pushed_at: dict[str, float] = {}
    try:
        with (
            vigil_process(
                ["ingest", "run", "--client-prefix", prefix], env, workdir / "ingest.log"
            ),
            vigil_process(["alerting", "run"], env, workdir / "alerting.log"),
            vigil_process(["console", "run", "--port", str(port)], env, workdir / "serve.log"),
            vigil_process(platform, env, workdir / "platform.log"),
        ):
            wait_for_port(port)
            wait_for_port(http_port)
            time.sleep(3.0)  # ingest subscribes and loads the registry
            url = f"ws://127.0.0.1:{port}/api/live"
            with (
                connect(url, open_timeout=10, additional_headers=live_headers(dsn)) as ws,
                httpx.Client(timeout=30) as http,
            ):
                client = LiveClient(ws)
                with Load(settings, load_streams(district, ids[len(quiet) :]), load):
                    time.sleep(5.0)  # the load reaches its pace
                    pressed = press(settings, native, gap_s=0.25)
                    url = f"http://127.0.0.1:{http_port}/ctwing/bench?token={TOKEN}"
                    pushed_at = _push(http, url, imeis, gap_s=0.25)
                    deadline = time.monotonic() + 15
                    want = len(pressed) + len(pushed_at)
                    while len(client.first_seen) < want and time.monotonic() < deadline:
                        time.sleep(0.05)
    finally:
        for lane in ("", "-events"):
            forget_session(settings, f"{prefix}-0of1{lane}")
        BrokerAuth.for_stack(stack).remove_gateway(gw)

    def spans(sent: dict[str, float]) -> list[float]:
        return [
            (client.first_seen[h] - t) * 1000 for h, t in sent.items() if h in client.first_seen
        ]

    platform_ms, native_ms = spans(pushed_at), spans(pressed)
    if not platform_ms:
        raise RuntimeError(f"no pushed press reached the live stream; see logs in {workdir}")
    result: dict[str, float | int] = {
        "presses": len(pushed_at), "received": len(platform_ms),
        "p50_ms": round(percentile(platform_ms, 50), 1),
        "p99_ms": round(percentile(platform_ms, 99), 1), "max_ms": round(max(platform_ms), 1),
        "load_readings_per_s_offered": load,
    }  # fmt: skip
    if native_ms:
        result["native_p50_ms"] = round(percentile(native_ms, 50), 1)
        result["native_p99_ms"] = round(percentile(native_ms, 99), 1)
        result["p50_ratio_to_native"] = round(
            result["p50_ms"] / max(result["native_p50_ms"], 1e-3), 2
        )
    return result


def main(argv: list[str] | None = None) -> None:
    from vigil.db.migrate import migrate
    from vigil.db.timescale import Retention, configure
    from vigil.settings import get_settings

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--load", type=float, default=55_000.0, help="readings per second offered")
    parser.add_argument(
        "--presses", type=int, default=20, help="pushed presses (and as many native)"
    )
    parser.add_argument(
        "--gateways", type=int, default=8, help="district gateways, 50 devices each"
    )
    args = parser.parse_args(argv)
    settings = get_settings()
    stack = LocalStack(settings)
    stack.up()
    name = f"bench_platlat_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.admin_dsn(), autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    dsn = stack.admin_dsn(name)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            migrate(conn)
            configure(conn, Retention(settings.raw_retention_days, settings.rollup_retention_days))
        with tempfile.TemporaryDirectory(prefix="vigil-bench-platlat-") as workdir:
            result = run_bench(settings, stack, dsn, load=args.load, presses=args.presses,
                               gateways=args.gateways, workdir=Path(workdir))  # fmt: skip
    finally:
        with psycopg.connect(stack.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
