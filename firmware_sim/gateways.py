"""Gateway processes the simulator starts for its district, one per gateway as in the field,
and stops when it ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from firmware_sim.link import socket_path
from vigil.errors import VigilError

STOP_GRACE_S = 5.0


class GatewayStartError(VigilError):
    """A gateway process exited before its socket appeared."""


def gateway_command(gateway_id: str, site_id: str, sock: Path) -> list[str]:
    """The command line of the gateway service (gateway/cli.py)."""
    return [
        sys.executable, "-m", "vigil.cli", "gateway", "run",
        "--id", gateway_id, "--site", site_id, "--socket", str(sock),
    ]  # fmt: skip


@dataclass
class GatewayProcess:
    gateway_id: str
    socket: Path
    log: Path
    process: subprocess.Popen[bytes]


class GatewayFleet:
    """Starts gateway processes and stops exactly those it started."""

    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir
        self.processes: list[GatewayProcess] = []

    def start(self, gateway_id: str, site_id: str, env: dict[str, str] | None = None) -> Path:
        """Start one gateway; `env` adds variables (e.g. the broker port of its uplink)."""
        sock = socket_path(self.var_dir, gateway_id)
        sock.parent.mkdir(parents=True, exist_ok=True)
        log = sock.with_suffix(".log")
        with log.open("ab") as out:
            proc = subprocess.Popen(
                gateway_command(gateway_id, site_id, sock),
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "VIGIL_VAR_DIR": str(self.var_dir), **(env or {})},
                start_new_session=True,  # Ctrl-C reaches the simulator, which stops them in order
            )
        self.processes.append(GatewayProcess(gateway_id, sock, log, proc))
        return sock

    def check(self) -> None:
        """Fail clearly if a gateway has already exited."""
        for p in self.processes:
            if p.process.poll() is not None:
                tail = p.log.read_text(errors="replace")[-2000:]
                raise GatewayStartError(
                    f"gateway {p.gateway_id} exited with {p.process.returncode}; log {p.log}:\n"
                    f"{tail}"
                )

    def stop(self) -> None:
        for p in self.processes:
            if p.process.poll() is None:
                p.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for p in self.processes:
            try:
                p.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.process.kill()
                p.process.wait()
        self.processes.clear()
