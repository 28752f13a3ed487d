"""`vigil platform run` on the test stack, with ingest behind it, for the HTTP-level tests."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from gateway.platforms.auth import aes_key
from tests.console.conftest import seeded_database
from tests.fix_stack import scratch_var
from tests.gateway.platforms.helpers import INVERTED
from tests.pipeline.running import IngestProcess
from vigil.broker_auth import BrokerAuth
from vigil.harness import free_port, wait_for
from vigil.settings import Settings
from vigil.stack import LocalStack

CTWING_TOKEN = "ct-" + uuid.uuid4().hex
ONENET_TOKEN = "5ec78dbca0db5a7e49b603fe"
AES_TEXT = "AAlvB3jc2dlPq2nF"
AES = aes_key(AES_TEXT)


@dataclass
class Running:
    dsn: str
    url: str
    gateway: str
    var: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return list(conn.execute(sql, params).fetchall())

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as r:
            found: dict[str, Any] = json.load(r)
            return found

    def vigil(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "vigil.cli", *args], env=self.env,
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip

    def start(self) -> None:
        log = (self.var / "platform.log").open("ab")
        port = self.url.rsplit(":", 1)[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vigil.cli", "platform", "run", "--config",
             str(self.var / "platform.toml"), "--port", port],
            env=self.env, stdout=log, stderr=log,
        )  # fmt: skip

        def up() -> bool:
            try:
                self.health()
            except OSError:
                return False
            return True

        wait_for(up, 60, "the platform receiver to answer")

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

    def log(self) -> str:
        return (self.var / "platform.log").read_text(errors="replace")[-4000:]


def _config(var: Path, gateway: str) -> None:
    (var / "profiles").mkdir()
    (var / "profiles" / "inverted.toml").write_text(INVERTED)
    (var / "platform.toml").write_text(
        f'gateway_id = "{gateway}"\nsite = "s1"\nprofiles_dir = "profiles"\n'
        "ack_timeout_s = 10\n"
        "[supervision]\ncheck_s = 0.2\ngrace = 0.0\nslack_s = 1.0\n"
        '[[accounts]]\nname = "district"\nplatform = "ctwing"\ntoken_env = "T_CTWING"\n'
        '[[accounts]]\nname = "district"\nplatform = "onenet"\ntoken_env = "T_ONENET"\n'
        '[[accounts]]\nname = "secure"\nplatform = "onenet"\ntoken_env = "T_ONENET"\n'
        'aes_key_env = "T_AES"\n'
    )


@contextlib.contextmanager
def platform_stack(
    stack: LocalStack,
    schema_template: str,
    settings: Settings,
    services: list[list[str]] | None = None,
) -> Iterator[Running]:
    """A seeded district, ingest (with its detector stage), the receiver's config and broker
    account; with `services`, more `vigil` processes (alerting, notifier, console)."""
    gateway = f"plat-{uuid.uuid4().hex[:6]}"
    password = uuid.uuid4().hex
    auth = BrokerAuth.for_stack(stack)
    auth.add_gateway(gateway, password)
    with seeded_database(stack, schema_template) as dsn, scratch_var() as var:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("insert into gateways (id, site_id, mqtt_username) values (%s, 's1', %s)",
                         (gateway, gateway))  # fmt: skip
        _config(var, gateway)
        env = {
            **os.environ, "VIGIL_DATABASE_URL": dsn, "VIGIL_VAR_DIR": str(var),
            "VIGIL_MQTT_PORT": str(settings.stack_mqtt_port), "VIGIL_GATEWAY_PASSWORD": password,
            "T_CTWING": CTWING_TOKEN, "T_ONENET": ONENET_TOKEN, "T_AES": AES_TEXT,
            "VIGIL_LOG_LEVEL": "WARNING", "VIGIL_SMS_PROVIDER": "demo",
        }  # fmt: skip
        running = Running(dsn, f"http://127.0.0.1:{free_port()}", gateway, var, env)
        ingest = IngestProcess(dsn, var, settings, VIGIL_SMS_PROVIDER="demo")
        others: list[subprocess.Popen[bytes]] = []
        try:
            ingest.start()
            for i, cmd in enumerate(services or []):
                log = (var / f"service{i}.log").open("ab")
                others.append(subprocess.Popen([sys.executable, "-m", "vigil.cli", *cmd],
                                               env=env, stdout=log, stderr=log))  # fmt: skip
            yield running
        except BaseException:
            sys.stderr.write(running.log())
            sys.stderr.write(ingest.log.read_text(errors="replace")[-3000:])
            raise
        finally:
            running.stop()
            for p in others:
                p.terminate()
            for p in others:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
            ingest.stop()
            auth.remove_gateway(gateway)
