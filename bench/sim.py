"""How fast one simulator process feeds its gateways, as a ratio to a bare socket baseline.

Both measurements send to the same kind of receiver (one process draining a SOCK_SEQPACKET
socket per gateway) in the same run: the baseline sends pre-encoded frames in a tight loop,
the simulator makes, encodes and sends its district's frames unpaced.
The last line printed is one JSON object.
Run: `make bench-sim` (or `python -m bench.sim --gateways 20 --devices 500`).
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import socket
import tempfile
import time
from multiprocessing.synchronize import Event
from pathlib import Path

from firmware_sim.district import build_district
from firmware_sim.link import GatewayLink, socket_path
from firmware_sim.runner import RunConfig, Runner
from firmware_sim.wire import REPORT, FrameEncoder

START = 1_763_780_000.0


def _drain(paths: list[str], ready: Event) -> None:
    servers = []
    for p in paths:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.bind(p)
        s.listen(1)
        servers.append(s)
    ready.set()
    conns = [s.accept()[0] for s in servers]
    for c in conns:  # senders close in order; drain each to its end
        while c.recv(65536):
            pass


def _receivers(tmp: Path, gateways: list[str]) -> mp.Process:
    paths = [str(socket_path(tmp, g)) for g in gateways]
    Path(paths[0]).parent.mkdir(parents=True, exist_ok=True)
    ready = mp.Event()
    proc = mp.Process(target=_drain, args=(paths, ready), daemon=True)
    proc.start()
    ready.wait(10)
    return proc


def _links(tmp: Path, gateways: list[str]) -> dict[str, GatewayLink]:
    links = {g: GatewayLink(g, socket_path(tmp, g)) for g in gateways}
    for link in links.values():
        link.connect()
    return links


def baseline(tmp: Path, gateways: list[str], frames: int) -> float:
    """Readings/s sending one pre-encoded 3-reading frame over and over."""
    proc = _receivers(tmp, gateways)
    links = _links(tmp, gateways)
    enc = FrameEncoder(["gw-0001-001-sd"], ["smoke"])
    packet = enc.encode((START, 0, REPORT, {"smoke_obscuration": 0.3, "temperature": 21.5,
                                           "battery": 3.0}), 1)  # fmt: skip
    rounds = max(1, frames // len(links) // 1000)  # at least one batch, however small the run
    batch = [packet] * 1000
    t = time.perf_counter()
    for link in links.values():
        for _ in range(rounds):
            link.send(batch)
    for link in links.values():
        link.close()
    proc.join()
    return 3 * rounds * 1000 * len(links) / (time.perf_counter() - t)


def simulator(tmp: Path, gateways: int, devices: int, minutes: float) -> tuple[float, int]:
    district = build_district(1, gateways, devices)
    ids = [g.id for g in district.gateways]
    proc = _receivers(tmp, ids)
    links = _links(tmp, ids)
    cfg = RunConfig(seed=1, speed=0, duration_s=minutes * 60, sim_start=START,
                    scenarios_per_hour=60)  # fmt: skip
    stats = Runner(district, cfg, links, io.StringIO()).run()
    for link in links.values():
        link.close()
    proc.join()
    return stats.readings_per_s, stats.readings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--gateways", type=int, default=20)
    ap.add_argument("--devices", type=int, default=500)
    ap.add_argument("--minutes", type=float, default=20.0, help="simulated minutes")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        sim_rate, readings = simulator(Path(a), args.gateways, args.devices, args.minutes)
        base_rate = baseline(Path(b), [f"gw-{i:04d}" for i in range(1, args.gateways + 1)],
                             readings // 3)  # fmt: skip
    print(f"district {args.gateways} x {args.devices} devices, {args.minutes:g} simulated min")
    print(f"baseline (pre-encoded frames, bare send): {base_rate:,.0f} readings/s")
    print(f"simulator (make, encode, send):           {sim_rate:,.0f} readings/s")
    print(f"ratio simulator / baseline: {sim_rate / base_rate:.2f}")
    result = {
        "readings_per_s": round(sim_rate),
        "baseline": "pre-encoded frames, bare send",
        "baseline_readings_per_s": round(base_rate),
        "ratio": float(f"{sim_rate / base_rate:.3g}"),  # 3 figures: a tiny run is not 0
        "readings": readings,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
