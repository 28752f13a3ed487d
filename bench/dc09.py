"""`make bench-dc09`: the DC-09 receiver alone, and a DC-09 fire to the console's live stream.

1. Receiver alone (`--part receiver`): `Receiver` in a process of its own with a sink that
   accepts at once, so the figure is the receiver's own work (framing, CRC, AES, the code table,
   the on-disk record of messages taken in) per event; panels on K TCP connections each send a
   message and wait for its ACK before the next, as panels do, and the same over UDP. The
   baseline in the same run is a bare asyncio echo server answering each frame with a fixed ACK
   (what the sockets and the event loop cost).
2. Fire to live stream (`--part latency`): a district on the local stack, `vigil ingest run`,
   `vigil alerting run`, `vigil alerting serve` and `vigil dc09 run` as processes, background
   telemetry load as in `make bench-latency`, and a Contact ID fire (E111) per household from a
   panel account over TCP; a WebSocket client on /api/live notes when each incident arrives.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import multiprocessing
import os
import socket
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from gateway.dc09 import frame as f
from gateway.dc09.accounts import Account, AccountBook
from vigil.codec import Event
from vigil.harness import free_port, vigil_process, wait_for_port


class _InstantSink:
    def emit(self, events: list[Event]) -> concurrent.futures.Future[None]:
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        future.set_result(None)
        return future

    def read(self, readings: list[Any]) -> None:
        return None

    def count_rejected(self, n: int = 1) -> None:
        return None


def _accounts(n: int, key: bytes | None) -> dict[str, Account]:
    return {f"{i:04X}": Account(f"{i:04X}", f"dc09-{i:04X}", key=key) for i in range(1, n + 1)}


def _frame(account: str, seq: int, key: bytes | None, now: float) -> bytes:
    data = f"#{account}|1602 00 000]_{f.format_time(now)}"
    if key is None:
        body = f'"ADM-CID"{seq:04d}L1#{account}[{data}'.encode()
    else:
        clear = b"|" + data.encode()
        hexed = f.encrypt(key, f.pad_for(len(clear)) + clear).hex().upper()
        body = f'"*ADM-CID"{seq:04d}L1#{account}[{hexed}'.encode()
    return f.frame_of(body)


def _serve_receiver(port_q: Any, stop: Any, key: bytes | None, panels: int, echo: bool) -> None:
    from gateway.dc09.receiver import Receiver, ReceiverConfig

    async def main() -> None:
        if echo:
            ack = f.frame_of(b'"ACK"0001L1#0001[]')

            async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                while await r.readuntil(b"\r"):
                    w.write(ack)
                    await w.drain()

            async def guarded(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                try:
                    await handle(r, w)
                except (asyncio.IncompleteReadError, ConnectionError):
                    w.close()

            server = await asyncio.start_server(guarded, "127.0.0.1", 0)
            port_q.put((server.sockets[0].getsockname()[1], None))
        else:
            with tempfile.TemporaryDirectory() as tmp:
                receiver = Receiver(
                    ReceiverConfig(state_path=Path(tmp) / "seen.sqlite"),
                    AccountBook(_accounts(panels, key)),
                    _InstantSink(),
                )
                await receiver.start("127.0.0.1", 0, 0)
                port_q.put(receiver.ports())
                while not stop.is_set():
                    await asyncio.sleep(0.1)
                await receiver.close()
                return
        while not stop.is_set():
            await asyncio.sleep(0.1)

    asyncio.run(main())


async def _tcp_panel(port: int, account: str, count: int, key: bytes | None) -> list[float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    spans = []
    for seq in range(1, count + 1):
        raw = _frame(account, seq % 9999 + 1, key, time.time())
        t = time.perf_counter()
        writer.write(raw)
        await writer.drain()
        reply = await reader.readuntil(b"\r")
        spans.append(time.perf_counter() - t)
        if b"ACK" not in reply[:20]:
            raise RuntimeError(f"not acknowledged: {reply!r}")
    writer.close()
    return spans


def _udp_panel(port: int, account: str, count: int, key: bytes | None) -> list[float]:
    spans = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        for seq in range(1, count + 1):
            raw = _frame(account, seq % 9999 + 1, key, time.time())
            t = time.perf_counter()
            s.sendto(raw, ("127.0.0.1", port))
            reply = s.recv(4096)
            spans.append(time.perf_counter() - t)
            if b"ACK" not in reply[:20]:
                raise RuntimeError(f"not acknowledged: {reply!r}")
    return spans


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def _measure(
    panels: int, per_panel: int, key: bytes | None, *, echo: bool, udp: bool
) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    port_q, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=_serve_receiver, args=(port_q, stop, key, panels, echo))
    proc.start()
    try:
        tcp, udp_port = port_q.get(timeout=30)
        accounts = [f"{i:04X}" for i in range(1, panels + 1)]
        t0 = time.perf_counter()
        if udp:
            with concurrent.futures.ThreadPoolExecutor(panels) as pool:
                spans = [
                    s
                    for part in pool.map(
                        lambda a: _udp_panel(udp_port, a, per_panel, key), accounts
                    )
                    for s in part
                ]
        else:

            async def run() -> list[float]:
                parts = await asyncio.gather(
                    *(_tcp_panel(tcp, a, per_panel, key) for a in accounts)
                )
                return [s for part in parts for s in part]

            spans = asyncio.run(run())
        elapsed = time.perf_counter() - t0
    finally:
        stop.set()
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    return {
        "events_per_s": round(len(spans) / elapsed),
        "ack_p50_ms": round(_pct(spans, 50) * 1000, 2),
        "ack_p99_ms": round(_pct(spans, 99) * 1000, 2),
    }


def bench_receiver(panels: int, per_panel: int) -> dict[str, Any]:
    key = bytes(range(32))
    result: dict[str, Any] = {}
    echo = _measure(panels, per_panel, None, echo=True, udp=False)
    result["baseline_echo_tcp_events_per_s"] = echo["events_per_s"]
    for name, k, udp in (("tcp_plain", None, False), ("tcp_aes256", key, False),
                         ("udp_plain", None, True), ("udp_aes256", key, True)):  # fmt: skip
        figures = _measure(panels, per_panel, k, echo=False, udp=udp)
        for field, value in figures.items():
            result[f"{name}_{field}"] = value
    result["tcp_plain_ratio_to_echo"] = round(
        result["tcp_plain_events_per_s"] / max(1, echo["events_per_s"]), 2
    )
    result["panels"] = panels
    result["events_per_panel"] = per_panel
    return result


# ---- fire to live stream -------------------------------------------------------------------
def bench_latency(  # noqa: PLR0915 - the run's steps, in order, read best in one place
    load: float, fires: int, gateways: int
) -> dict[str, Any]:
    import psycopg
    from websockets.sync.client import connect

    from bench.alerting import LiveClient, live_headers
    from bench.alerting import percentile as pct
    from bench.latency import Load, load_streams, press, press_targets
    from bench.loadgen import forget_session
    from firmware_sim.district import build_district, seed
    from gateway.dc09 import registry
    from vigil.broker_auth import BrokerAuth
    from vigil.db.migrate import migrate
    from vigil.db.timescale import Retention, configure
    from vigil.settings import get_settings
    from vigil.stack import LocalStack

    settings = get_settings()
    stack = LocalStack(settings)
    started_here = not stack.status()["postgres"]["running"]
    stack.up()
    name = f"bench_dc09_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.admin_dsn(), autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    dsn = stack.admin_dsn(name)
    gw = f"dc09-bench-{uuid.uuid4().hex[:6]}"
    password = uuid.uuid4().hex
    prefix = f"bench-dc09-{uuid.uuid4().hex[:6]}"
    try:
        district = build_district(12, gateways, 50)
        site = district.sites[0].id
        with psycopg.connect(dsn, autocommit=True) as conn:
            migrate(conn)
            configure(conn, Retention(settings.raw_retention_days, settings.rollup_retention_days))
            seed(conn, district)
            conn.execute("insert into gateways (id, site_id, mqtt_username) values (%s, %s, %s)",
                         (gw, site, gw))  # fmt: skip
            # As in `make bench-latency`: the load runs on three quarters of the gateways; the
            # households behind the quiet quarter get the fires and the native presses, so no
            # incident of the load's is mistaken for theirs.
            ids = [g.id for g in district.gateways]
            quiet = ids[: max(1, len(ids) // 4)]
            targets = press_targets(district, quiet)
            homes = [t[3] for t in targets][: min(fires, len(targets) // 2)]
            for i, home in enumerate(homes, start=1):
                registry.add_account(conn, registry.NewAccount(f"{i:04X}", gw, household_id=home))
        BrokerAuth.for_stack(stack).add_gateway(gw, password, site)
        mqtt_port = settings.mqtt_port or settings.stack_mqtt_port
        with tempfile.TemporaryDirectory(prefix="vigil-bench-dc09-") as tmp:
            workdir = Path(tmp)
            env = {**os.environ, "VIGIL_DATABASE_URL": dsn, "VIGIL_MQTT_PORT": str(mqtt_port),
                   "VIGIL_VAR_DIR": str(workdir), "VIGIL_LOG_LEVEL": "WARNING",
                   "VIGIL_METRICS_PORT": "0", "VIGIL_GATEWAY_PASSWORD": password}  # fmt: skip
            web, dc09 = free_port(), free_port()
            with (
                vigil_process(["ingest", "run", "--client-prefix", prefix], env, workdir / "i.log"),
                vigil_process(["alerting", "run"], env, workdir / "a.log"),
                vigil_process(["console", "run", "--port", str(web)], env, workdir / "s.log"),
                vigil_process(["dc09", "run", "--id", gw, "--site", site, "--host", "127.0.0.1",
                          "--tcp-port", str(dc09), "--udp-port", "0"], env, workdir / "d.log"),
            ):  # fmt: skip
                try:
                    wait_for_port(web, timeout=120)
                    wait_for_port(dc09, timeout=120)
                except TimeoutError:
                    for log in sorted(workdir.glob("*.log")):
                        print(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}")
                    raise
                time.sleep(3.0)
                url = f"ws://127.0.0.1:{web}/api/live"
                with connect(url, open_timeout=10, additional_headers=live_headers(dsn)) as ws:
                    client = LiveClient(ws)
                    with Load(settings, load_streams(district, ids[len(quiet) :]), load):
                        time.sleep(5.0)
                        fired, acks = _fire(dc09, homes)
                        # The baseline in the same run: native panic presses on the wire
                        # contract (as `make bench-latency`), for other households.
                        native = [t for t in targets if t[3] not in fired]
                        pressed = press(settings, native[: len(fired)], gap_s=0.5)
                        deadline = time.monotonic() + 15
                        want = len(fired) + len(pressed)
                        while len(client.first_seen) < want and time.monotonic() < deadline:
                            time.sleep(0.05)
        latencies = [(client.first_seen[h] - t) * 1000 for h, t in fired.items()
                     if h in client.first_seen]  # fmt: skip
        if not latencies:
            raise RuntimeError("no DC-09 fire reached the live stream")
        presses = [(client.first_seen[h] - t) * 1000 for h, t in pressed.items()
                   if h in client.first_seen]  # fmt: skip
        baseline = round(pct(presses, 50), 1) if presses else None
        return {
            "native_press_to_live_p50_ms": baseline,
            "native_press_to_live_p99_ms": round(pct(presses, 99), 1) if presses else None,
            "p50_ratio_to_native_press": round(pct(latencies, 50) / baseline, 2)
            if baseline
            else None,
            "fires": len(fired),
            "received": len(latencies),
            "fire_to_live_p50_ms": round(pct(latencies, 50), 1),
            "fire_to_live_p99_ms": round(pct(latencies, 99), 1),
            "fire_to_live_max_ms": round(max(latencies), 1),
            "ack_p50_ms": round(pct(acks, 50), 1),
            "ack_p99_ms": round(pct(acks, 99), 1),
            "load_offered_readings_per_s": load,
        }
    finally:
        for lane in ("", "-events"):
            forget_session(settings, f"{prefix}-0of1{lane}")
        with psycopg.connect(stack.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
        if started_here:
            stack.down()


def _fire(port: int, homes: list[str]) -> tuple[dict[str, float], list[float]]:
    fired: dict[str, float] = {}
    acks: list[float] = []
    for i, home in enumerate(homes, start=1):
        account = f"{i:04X}"
        t = time.time()
        body = f'"ADM-CID"0001L1#{account}[#{account}|1111 01 001]_{f.format_time(t)}'
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(f.frame_of(body.encode()))
            reply = b""
            while not reply.endswith(b"\r"):
                reply += s.recv(4096)
        acks.append((time.time() - t) * 1000)
        fired[home] = t
        time.sleep(0.5)
    return fired, acks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--part", choices=("receiver", "latency", "both"), default="both")
    parser.add_argument("--panels", type=int, default=50, help="panels sending at once")
    parser.add_argument("--events", type=int, default=200, help="messages per panel")
    parser.add_argument("--load", type=float, default=55_000.0, help="readings/s (latency)")
    parser.add_argument("--fires", type=int, default=30)
    parser.add_argument("--gateways", type=int, default=8)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {}
    if args.part in ("receiver", "both"):
        result |= bench_receiver(args.panels, args.events)
    if args.part in ("latency", "both"):
        result |= bench_latency(args.load, args.fires, args.gateways)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
