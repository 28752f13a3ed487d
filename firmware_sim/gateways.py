"""Gateway processes the simulator starts for its district, one per gateway as in the field,
and stops when it ends."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from firmware_sim.link import socket_path
from vigil.broker_auth import BrokerAuth
from vigil.codec import Encoding
from vigil.errors import VigilError
from vigil.settings import Settings
from vigil.stack import LocalStack

STOP_GRACE_S = 5.0
DRAIN_S = 1.0  # after the last frame, before SIGTERM: the gateways' batches go out in ~25 ms
PASSWORD_ENV = "VIGIL_GATEWAY_PASSWORD"  # noqa: S105 - the variable's name, as gateway/cli.py reads it


class GatewayStartError(VigilError):
    """A gateway process exited before its socket appeared."""


def gateway_command(
    gateway_id: str, site_id: str, sock: Path, encoding: Encoding, mqtt_port: int | None
) -> list[str]:
    """The command line of the gateway service (gateway/cli.py)."""
    cmd = [
        sys.executable, "-m", "vigil.cli", "gateway", "run",
        "--id", gateway_id, "--site", site_id, "--socket", str(sock),
        "--encoding", encoding.value,
    ]  # fmt: skip
    if mqtt_port is not None:
        cmd += ["--mqtt-port", str(mqtt_port)]
    return cmd


@dataclass
class GatewayProcess:
    gateway_id: str
    socket: Path
    log: Path
    process: subprocess.Popen[bytes]


class GatewayFleet:
    """Starts gateway processes, each with its own broker account of the local stack (re-keyed
    with a password of this run), and stops exactly the processes it started."""

    def __init__(self, settings: Settings, encoding: Encoding = Encoding.MSGPACK) -> None:
        self.settings = settings
        self.encoding = encoding
        self.processes: list[GatewayProcess] = []
        self._password = secrets.token_urlsafe(18)
        self._auth = BrokerAuth.for_stack(LocalStack(settings))

    def start(self, gateway_id: str, site_id: str, mqtt_port: int | None = None) -> Path:
        """Start one gateway; `mqtt_port` points it at another broker port (a cuttable uplink)."""
        self._auth.add_gateway(gateway_id, self._password)
        sock = socket_path(self.settings.var_dir, gateway_id)
        sock.parent.mkdir(parents=True, exist_ok=True)
        log = sock.with_suffix(".log")
        env = {**os.environ, "VIGIL_VAR_DIR": str(self.settings.var_dir),
               PASSWORD_ENV: self._password}  # fmt: skip
        with log.open("ab") as out:
            proc = subprocess.Popen(
                gateway_command(gateway_id, site_id, sock, self.encoding, mqtt_port),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
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

    def stop(self, drain_s: float = DRAIN_S) -> None:
        """Give the gateways `drain_s` to forward what they hold, then stop them."""
        if self.processes:
            time.sleep(drain_s)
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
