"""`make bench-broker-auth`: the two ways to manage gateway accounts on Mosquitto, measured in
the same run on two scratch brokers — the dynamic-security plugin over its control topic (what
Vigil uses) and a password file + ACL file reloaded with SIGHUP (what it used before).

For each: how long after a revocation is asked a connected gateway is disconnected, and what one
more account costs when `--accounts` already exist. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from vigil.broker_auth import BrokerAuth, gateway_acls, gateway_client_id
from vigil.harness import free_port, wait_for_port
from vigil.settings import REPO_ROOT, Settings
from vigil.stack import MOSQUITTO, LocalStack
from vigil.topics import PREFIX

PASSWORD = "bench-password"  # noqa: S105 - a throwaway broker's throwaway accounts


def _passwd_line(user: str, password: str) -> str:
    """Mosquitto 2's password file format ($7$: PBKDF2-SHA512, 101 iterations)."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 101)
    return f"{user}:$7$101${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


class FileBroker:
    """Mosquitto with password_file + acl_file, changed by rewriting them and SIGHUP."""

    def __init__(self, root: Path, service: str) -> None:
        self.root, self.service = root, service
        self.port = free_port()
        self.passwd, self.acl = root / "passwd", root / "acl"
        self.users: dict[str, str] = {service: _passwd_line(service, PASSWORD)}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._write()
        conf = self.root / "mosquitto.conf"
        lines = [
            "per_listener_settings false",
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {self.passwd}",
            f"acl_file {self.acl}",
        ]
        if os.geteuid() == 0:
            lines.append("user root")
        conf.write_text("\n".join(lines) + "\n")
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)

    def _write(self) -> None:
        self.passwd.write_text("\n".join(self.users.values()) + "\n")
        blocks = [f"user {self.service}\ntopic readwrite #\n"]
        blocks += [
            f"user {gw}\ntopic write {PREFIX}/+/{gw}/up/#\ntopic write {PREFIX}/+/{gw}/status\n"
            f"topic read {PREFIX}/+/{gw}/down/#\n"
            for gw in self.users
            if gw != self.service
        ]
        self.acl.write_text("\n".join(blocks))

    def _reload(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)

    def add(self, accounts: list[str]) -> None:
        for gw in accounts:
            self.users[gw] = _passwd_line(gw, PASSWORD)
        self._write()
        self._reload()

    def remove(self, gw: str) -> None:
        del self.users[gw]
        self._write()
        self._reload()


class DynsecBroker:
    """The local stack's own Mosquitto setup (dynamic security) on a scratch folder."""

    def __init__(self, root: Path) -> None:
        self.settings = Settings(
            var_dir=root, stack_pg_port=free_port(), stack_mqtt_port=free_port()
        )
        self.stack = LocalStack(self.settings)
        self.auth = BrokerAuth.for_stack(self.stack)
        self.auth.timeout_s = 600  # the fill: thousands of commands in one message
        self.port = self.settings.stack_mqtt_port

    def start(self) -> None:
        self.stack.start_mqtt()

    def stop(self) -> None:
        self.stack.stop_mqtt()

    def add(self, accounts: list[str]) -> None:
        self.auth.add_gateways([(gw, PASSWORD, None) for gw in accounts])

    def remove(self, gw: str) -> None:
        self.auth.remove_gateway(gw)


def _connected(port: int, gw: str) -> tuple[mqtt.Client, threading.Event, list[float]]:
    lost, at = threading.Event(), []
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=gateway_client_id(gw), protocol=mqtt.MQTTv5
    )
    client.username_pw_set(gw, PASSWORD)
    up = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: up.set() if not rc.is_failure else None

    def gone(*_: object) -> None:
        at.append(time.perf_counter())
        lost.set()

    client.on_disconnect = gone
    client.connect("127.0.0.1", port, 30)
    client.loop_start()
    if not up.wait(5):
        raise RuntimeError(f"{gw} could not connect")
    return client, lost, at


def kick_ms(broker: FileBroker | DynsecBroker, runs: int) -> list[float]:
    """Revocation asked → the connected client sees its connection closed."""
    times = []
    for i in range(runs):
        gw = f"kick-{i}-{secrets.token_hex(3)}"
        broker.add([gw])
        time.sleep(0.3)  # a SIGHUP reload is applied on the broker's next loop
        client, lost, at = _connected(broker.port, gw)
        start = time.perf_counter()
        broker.remove(gw)
        if lost.wait(10):
            times.append((at[0] - start) * 1000)
        client.loop_stop()
        client.disconnect()
    return times


def _can_connect(port: int, gw: str) -> bool:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=gateway_client_id(gw), protocol=mqtt.MQTTv5
    )
    client.username_pw_set(gw, PASSWORD)
    answer: list[bool] = []
    client.on_connect = lambda c, u, f, rc, p: answer.append(not rc.is_failure)
    client.connect("127.0.0.1", port, 5)
    deadline = time.monotonic() + 5
    while not answer and time.monotonic() < deadline:
        client.loop(0.01)
    client.disconnect()
    return bool(answer and answer[0])


def add_ms(broker: FileBroker | DynsecBroker, existing: int, adds: int) -> tuple[float, float]:
    """Medians, with `existing` accounts in place, of one more account: the call itself, and
    until the new account can log in (a SIGHUP reload happens later, on the broker's loop)."""
    broker.add([f"fill-{i}" for i in range(existing)])
    calls, ready = [], []
    for i in range(adds):
        gw = f"more-{i}"
        start = time.perf_counter()
        broker.add([gw])
        calls.append((time.perf_counter() - start) * 1000)
        while not _can_connect(broker.port, gw):
            time.sleep(0.002)
        ready.append((time.perf_counter() - start) * 1000)
    return statistics.median(calls), statistics.median(ready)


@contextmanager
def _scratch() -> Iterator[Path]:
    path = REPO_ROOT / "var" / "scratch" / f"bench-auth-{secrets.token_hex(4)}"
    path.mkdir(parents=True)
    path.chmod(0o755)
    try:
        yield path
    finally:
        subprocess.run(["rm", "-rf", str(path)], check=False)


def _run(
    make: Callable[[Path], FileBroker | DynsecBroker], runs: int, accounts: int
) -> dict[str, float]:
    with _scratch() as root:
        broker = make(root)
        broker.start()
        try:
            kicks = kick_ms(broker, runs)
            call, ready = add_ms(broker, accounts, 10)
        finally:
            broker.stop()
    return {
        "kick_ms_median": round(statistics.median(kicks), 1) if kicks else float("nan"),
        "kicked": len(kicks),
        "add_one_call_ms_median": round(call, 1),
        "add_one_until_login_ms_median": round(ready, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="revocations measured per broker")
    parser.add_argument("--accounts", type=int, default=1000, help="accounts already in place")
    args = parser.parse_args()
    service = Settings().mqtt_username
    dynsec = _run(DynsecBroker, args.runs, args.accounts)
    files = _run(lambda root: FileBroker(root, service), args.runs, args.accounts)
    print(
        json.dumps(
            {
                "dynamic_security": dynsec,
                "password_file_sighup": files,
                "kick_ratio_file_over_dynsec": round(
                    files["kick_ms_median"] / dynsec["kick_ms_median"], 1
                ),
                "accounts": args.accounts,
                "acl_entries_per_gateway": len(gateway_acls("gw")),
            }
        )
    )


if __name__ == "__main__":
    main()
