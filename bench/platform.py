"""`make bench-platform`: carriers' platform pushes per second, each answered only once its
events are acknowledged by Vigil's broker (durable acceptance), over HTTP on loopback.

The receiver (the same ASGI app and local bridge as `vigil platform run`, its registry held in
memory) runs in this process under uvicorn; the fake platform (a process of its own) sends
signed CTWing pushes of SOS-button presses from `--devices` buttons with `--concurrency`
requests in flight, as fast as they are answered. Baseline in the same run: the same client
against an endpoint that answers 200 at once (HTTP and JSON only). A subscriber on Vigil's
broker counts the events that arrive. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import uvicorn
from paho.mqtt.enums import CallbackAPIVersion

from gateway.bridge import Bridge, BridgeConfig
from gateway.link import BrokerConfig
from gateway.platforms import fake
from gateway.platforms.app import Account, PlatformApp, Receive, Scope, Send
from gateway.platforms.bridge_sink import BridgeSink
from gateway.platforms.profiles import Profiles
from gateway.platforms.pushes import Source
from gateway.platforms.receiver import DeviceEntry, MemoryRegistry, Receiver
from gateway.platforms.state import State
from vigil.broker_auth import BrokerAuth
from vigil.codec import decode_events
from vigil.settings import get_settings
from vigil.stack import LocalStack
from vigil.topics import Topic

SITE = "bench"
TOKEN = "bench-token"  # noqa: S105 - the fake platform's own, on loopback


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _plain(scope: Scope, receive: Receive, send: Send) -> None:
    """The baseline: read the body, answer 200."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _serve(app: Any, port: int) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off", access_log=False))  # fmt: skip
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    return server


def _client(url: str, bodies: list[bytes], concurrency: int, out: Any) -> None:
    """In its own process: send every body, note each answer's status and round trip."""
    import httpx

    async def main() -> tuple[float, list[int], list[float]]:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            sem = asyncio.Semaphore(concurrency)
            statuses: list[int] = []
            rtts: list[float] = []

            async def one(body: bytes) -> None:
                async with sem:
                    t = time.perf_counter()
                    r = await client.post(url, content=body)
                    rtts.append(time.perf_counter() - t)
                    statuses.append(r.status_code)

            started = time.perf_counter()
            await asyncio.gather(*(one(b) for b in bodies))
            return time.perf_counter() - started, statuses, rtts

    out.send(asyncio.run(main()))


def _send_all(
    url: str, bodies: list[bytes], concurrency: int
) -> tuple[float, list[int], list[float]]:
    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=_client, args=(url, bodies, concurrency, child))
    proc.start()
    result: tuple[float, list[int], list[float]] = parent.recv()
    proc.join(30)
    return result


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


class _Counter:
    """Counts the events arriving on the receiver's event topic."""

    def __init__(self, host: str, port: int, user: str, password: str, topic: str) -> None:
        self.events = 0
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:6]}"
        )
        self.client.username_pw_set(user, password)
        self.client.on_message = self._message
        self.client.connect(host, port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()

    def _message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        self.events += len(decode_events(message.payload))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def run(pushes: int, devices: int, concurrency: int) -> dict[str, Any]:
    settings = get_settings()
    stack = LocalStack(settings)
    gw, password = f"bench-plat-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    auth = BrokerAuth.for_stack(stack)
    auth.add_gateway(gw, password)
    port = settings.mqtt_port or settings.stack_mqtt_port
    service_password = settings.mqtt_password.get_secret_value()
    topic = str(Topic.event(SITE, gw))
    counter = _Counter(settings.mqtt_host, port, settings.mqtt_username, service_password, topic)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            registry = MemoryRegistry()
            for i in range(devices):
                registry.add(DeviceEntry(f"btn-{i}", "ctwing", "btn", "nb-sos-button",
                                         f"86{i:013d}", f"p-{i}"))  # fmt: skip
            state = State(Path(tmp) / "state.sqlite")
            bridge = Bridge(BridgeConfig(
                gateway_id=gw, site=SITE, queue_path=Path(tmp) / "queue.sqlite",
                batch_delay_s=0.05,
                broker=BrokerConfig(settings.mqtt_host, port, gw, password, f"vigil-gw-{gw}"),
            ))  # fmt: skip
            bridge.start()
            app = PlatformApp(Receiver(state, Profiles.load(), registry), BridgeSink(bridge),
                              [Account("bench", Source.CTWING, TOKEN)])  # fmt: skip
            deadline = time.monotonic() + 10
            while not bridge.connected and time.monotonic() < deadline:
                time.sleep(0.05)
            t0 = time.time() - 60
            bodies = [
                fake.ctwing_body(fake.ctwing_data(f"86{i % devices:013d}", f"p-{i % devices}",
                                                  "btn", {"sos": 1, "battery": 90},
                                                  t=t0 + i * 0.001))
                for i in range(pushes)
            ]  # fmt: skip
            plat_port, base_port = _free_port(), _free_port()
            plat = _serve(app, plat_port)
            base = _serve(_plain, base_port)
            b_took, b_status, b_rtt = _send_all(f"http://127.0.0.1:{base_port}/", bodies,
                                                concurrency)  # fmt: skip
            took, status, rtt = _send_all(
                f"http://127.0.0.1:{plat_port}/ctwing/bench?token={TOKEN}", bodies, concurrency
            )
            deadline = time.monotonic() + 10
            while counter.events < pushes and time.monotonic() < deadline:
                time.sleep(0.05)
            plat.should_exit = base.should_exit = True
            bridge.stop()
            state.close()
    finally:
        counter.close()
        auth.remove_gateway(gw)
    ok = status.count(200)
    return {
        "bench": "platform", "pushes": pushes, "devices": devices, "concurrency": concurrency,
        "accepted": ok, "events_at_broker": counter.events,
        "pushes_per_s": round(ok / took, 1), "ack_p50_ms": round(_pct(rtt, 0.5), 2),
        "ack_p99_ms": round(_pct(rtt, 0.99), 2),
        "baseline_http_per_s": round(b_status.count(200) / b_took, 1),
        "baseline_p99_ms": round(_pct(b_rtt, 0.99), 2),
        "ratio_to_baseline": round((ok / took) / (b_status.count(200) / b_took), 3),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=5000)
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.pushes, args.devices, args.concurrency)))


if __name__ == "__main__":
    main()
