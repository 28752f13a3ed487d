"""The pipeline as real processes, for tests that follow a simulated device all the way:
`vigil ingest run` (with the detector stage), `vigil alerting run` and `vigil console run` on
a database of the test's own, and `vigil sim run` playing a district through real gateway
processes to the test stack's broker. Every process is started here and stopped here, by its
own handle."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from vigil.harness import free_port, healthy, serving, start_vigil, stop_process, wait_for
from vigil.settings import Settings
from vigil.topics import Topic


def _env(settings: Settings, var: Path, dsn: str) -> dict[str, str]:
    """The test stack for every child, whatever ports the calling shell exported."""
    port = str(settings.stack_mqtt_port)
    return {
        **os.environ,
        "VIGIL_DATABASE_URL": dsn,
        "VIGIL_VAR_DIR": str(var),
        "VIGIL_STACK_PG_PORT": str(settings.stack_pg_port),
        "VIGIL_STACK_MQTT_PORT": port,
        "VIGIL_MQTT_PORT": port,
        "VIGIL_METRICS_PORT": "0",
        "VIGIL_LOG_LEVEL": "WARNING",
    }


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        return f"--- {self.name} ({self.log}):\n" + self.log.read_text(errors="replace")[-3000:]


def _start(name: str, args: list[str], env: dict[str, str], var: Path) -> Child:
    log = var / f"{name}.log"
    return Child(name, start_vigil(args, env, log), log)


def _stop(child: Child) -> None:
    stop_process(child.process)


def other_logs(var: Path, shown: set[Path]) -> str:
    """The tails of the logs under `var` not in `shown`: the pipeline's and the simulator's
    gateways', which a failing test body would otherwise never show (a fixture's block does not
    see the test's exception)."""
    tails = [
        f"--- {log}:\n" + log.read_text(errors="replace")[-3000:]
        for log in sorted(var.rglob("*.log"))
        if log not in shown
    ]
    return "".join(tails)


@contextlib.contextmanager
def running(children: list[Child], var: Path | None = None) -> Iterator[list[Child]]:
    """Stops the children in reverse order, and shows their logs (and, given `var`, every other
    log under it) if the block failed."""
    try:
        yield children
    except BaseException:
        for child in children:
            sys.stderr.write(child.tail())
        if var is not None:
            sys.stderr.write(other_logs(var, {child.log for child in children}))
        raise
    finally:
        for child in reversed(children):
            _stop(child)


@contextlib.contextmanager
def pipeline(
    settings: Settings, dsn: str, var: Path, console_port: int | None = None
) -> Iterator[list[Child]]:
    """ingest (with its detector stage), alerting and, with a port, the console on `dsn`;
    ingest healthy (subscribed, registry loaded) and the console answering when the block
    starts."""
    env = _env(settings, var, dsn)
    port = free_port()
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    ingest = _start(
        "ingest",
        ["ingest", "run", "--client-prefix", prefix, "--metrics-port", str(port)],
        env,
        var,
    )
    with running([ingest]) as children:
        children.append(_start("alerting", ["alerting", "run"], env, var))
        if console_port is not None:
            console = ["console", "run", "--host", "127.0.0.1", "--port", str(console_port)]
            children.append(_start("console", console, env, var))
            url = f"http://127.0.0.1:{console_port}/api/config"
            wait_for(lambda: serving(url), 60, "the console to answer")
        wait_for(lambda: healthy(port), 90, "ingest to be healthy")
        yield children


@contextlib.contextmanager
def simulator(
    settings: Settings, dsn: str, var: Path, args: list[str], truth: Path
) -> Iterator[Child]:
    """`vigil sim run ARGS` (it starts and stops its own gateway processes), on the district
    already in `dsn` (--no-register), writing its ground truth to `truth`."""
    cmd = ["sim", "run", "--no-register", "--truth", str(truth), *args]
    sim = _start("simulator", cmd, _env(settings, var, dsn), var)
    with running([sim], var):
        yield sim


def clear_gateway_status(settings: Settings, gateways: list[tuple[str, str]]) -> None:
    """Forget the retained status of these (site, gateway)s: the broker keeps the "offline" a
    gateway of an earlier test left at its stop, and a detector stage subscribing now would
    raise a gateway alert for it."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
    client.username_pw_set(settings.mqtt_username, settings.mqtt_password.get_secret_value())
    client.connect("127.0.0.1", settings.stack_mqtt_port)
    client.loop_start()
    try:
        for site, gateway in gateways:
            client.publish(
                str(Topic.status(site, gateway)), b"", qos=1, retain=True
            ).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


def truth_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
