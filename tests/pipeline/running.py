"""`vigil ingest run` (with the detector stage) as a child process that a test may kill -9."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from vigil.harness import free_port, healthy, wait_for
from vigil.settings import Settings


class IngestProcess:
    """One ingest worker; the same client prefix across restarts, so the broker keeps its
    session (and redelivers what it had not acknowledged)."""

    def __init__(self, dsn: str, var: Path, settings: Settings, **env: str) -> None:
        self.port = free_port()
        self.prefix = f"t-{uuid.uuid4().hex[:8]}"
        self.var = var
        self.env = {
            **os.environ,
            "VIGIL_DATABASE_URL": dsn,
            "VIGIL_VAR_DIR": str(var),
            "VIGIL_MQTT_PORT": str(settings.stack_mqtt_port),
            "VIGIL_METRICS_PORT": "0",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    @property
    def log(self) -> Path:
        return self.var / f"ingest{self.runs}.log"

    def start(self) -> None:
        self.runs += 1
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "vigil.cli", "ingest", "run", "--client-prefix",
                 self.prefix, "--metrics-port", str(self.port)],
                env=self.env, stdout=log, stderr=log,
            )  # fmt: skip
        wait_for(lambda: healthy(self.port), 90, "ingest to be healthy")

    def kill(self) -> None:
        """kill -9: nothing is saved, nothing more is committed."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
