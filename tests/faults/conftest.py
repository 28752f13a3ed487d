"""The fault suite's pipeline, all real processes: a gateway process with devices on its socket
-> Mosquitto -> `vigil ingest run` (with the detectors) -> TimescaleDB -> `vigil alerting run`
-> `vigil notifier run` -> a fake SMS carrier on loopback (Twilio-style, idempotency keys).

Each test breaks one part and then checks the books end to end (`Pipeline.settle`): every reading
the devices sent is stored once, every panic press is one alert and one incident, and every SMS
in the outbox reached the carrier once.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from alerting.escalation import DEFAULT_POLICY
from bench.loadgen import forget_sessions
from firmware_sim.district import District, build_district, seed
from tests.alerting.fix_sms_http import SID, TOKEN, FakeSmsApi
from tests.fix_stack import scratch_var
from tests.gateway.conftest import Account, Device
from vigil.broker_auth import BrokerAuth
from vigil.frames import Frame
from vigil.harness import free_port, healthy, wait_for
from vigil.settings import REPO_ROOT, Settings
from vigil.stack import LocalStack

REPORTING = ("smoke", "heat", "multi")  # the device types the feeder reports for
PERIOD_S = 0.05  # one round of reports from every reporting device


class Uplink:
    """The gateway's internet link: a TCP relay to the broker that can be cut and restored
    (a 4G modem losing its signal), while the broker stays up for everyone else."""

    def __init__(self, broker_port: int) -> None:
        self.broker_port = broker_port
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._up = threading.Event()
        self._up.set()
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, name="uplink", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if not self._up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.broker_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def cut(self) -> None:
        self._up.clear()
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            self._open = []

    def restore(self) -> None:
        self._up.set()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._server.close()


class Service:
    """One `vigil ...` process, killed and started again the way a supervisor does."""

    def __init__(
        self, name: str, args: list[str], env: dict[str, str], log: Path,
        ready: Callable[[Service], bool],
    ) -> None:  # fmt: skip
        self.name, self.args, self.env, self.log_path = name, args, env, log
        self._ready = ready
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.launched = 0.0
        self._terminated = False

    def start(self) -> Service:
        return self.launch().wait_ready()

    def launch(self) -> Service:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "vigil.cli", *self.args],
                env=self.env, stdout=log, stderr=log, cwd=REPO_ROOT,
            )  # fmt: skip
        self.starts += 1
        self.launched = time.monotonic()
        self._terminated = False
        return self

    def wait_ready(self) -> Service:
        wait_for(lambda: self._alive() and self._ready(self), 60, f"{self.name} to be ready")
        return self

    def _alive(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited {self.proc.returncode}: {self.log()[-3000:]}")
        return True

    def kill(self) -> None:
        """SIGKILL: no goodbye, no flush, whatever was in flight is in flight."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def terminate(self) -> None:
        """SIGTERM, once: a second one may mean "now" to a process."""
        if self.proc is not None and not self._terminated:
            self.proc.send_signal(signal.SIGTERM)
            self._terminated = True

    def stop(self) -> None:
        if self.proc is None:
            return
        self.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_count(self, text: str) -> int:
        return self.log().count(text)


class Gateway:
    """`vigil gateway run` for the test's gateway; `launcher` runs it under another clock."""

    def __init__(self, workdir: Path, account: Account, site: str, port: int) -> None:
        self.account = account
        self.socket_path = workdir / "gw.sock"
        self.queue_path = workdir / "gw.queue.sqlite"
        self.log_path = workdir / "gw.log"
        self.port = port
        self.site = site
        self.extra: list[str] = []
        self.launcher: list[str] = ["-m", "vigil.cli"]
        self.proc: subprocess.Popen[bytes] | None = None

    def args(self) -> list[str]:
        return [
            sys.executable, *self.launcher, "gateway", "run",
            "--id", self.account.gateway_id, "--site", self.site,
            "--socket", str(self.socket_path), "--queue", str(self.queue_path),
            "--mqtt-port", str(self.port), "--status-s", "0.5", *self.extra,
        ]  # fmt: skip

    def start(self) -> Gateway:
        return self.launch().wait_listening()

    def launch(self) -> Gateway:
        env = os.environ | {"VIGIL_GATEWAY_PASSWORD": self.account.password}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.args(), stdout=log, stderr=log, env=env, cwd=REPO_ROOT
            )
        return self

    def wait_listening(self) -> Gateway:
        wait_for(self._listening, 30, "the gateway to listen")
        return self

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"gateway exited {self.proc.returncode}: {self.log()[-3000:]}")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            probe.connect(str(self.socket_path))
        except OSError:
            return False
        finally:
            probe.close()
        return True

    def stop(self) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class SimClock:
    """The devices' time: `speed` times faster than the wall clock from `start` until it has
    caught up with the wall clock, then the wall clock."""

    def __init__(self, behind_s: float, speed: float) -> None:
        self.origin = time.time()
        self.start = self.origin - behind_s
        self.speed = speed

    def __call__(self) -> float:
        now = time.time()
        return min(now, self.start + (now - self.origin) * self.speed)

    def caught_up(self) -> bool:
        now = time.time()
        return self.start + (now - self.origin) * self.speed >= now


@dataclass
class Feeder:
    """The gateway's devices: reports from the detectors at a steady pace, panic presses on
    demand. `clock` is the devices' time (they take it from their gateway)."""

    gateway: Gateway
    reporting: list[tuple[str, str]]  # (device id, device type)
    buttons: list[str]  # panic buttons, each in a household of its own
    clock: Callable[[], float] = time.time
    sent_readings: int = 0
    pressed: list[str] = field(default_factory=list)
    _seq: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _device: Device | None = None

    def _link(self) -> Device:
        if self._device is None:
            self._device = Device(self.gateway.socket_path)
        return self._device

    def _send(self, frame: Frame) -> None:
        with self._lock:
            try:
                self._link().send(frame)
            except OSError:  # the gateway restarted: connect again, as a device would
                self._device = None
                wait_for(self._reconnect, 30, "the gateway's socket")
                self._link().send(frame)

    def _reconnect(self) -> bool:
        try:
            self._device = Device(self.gateway.socket_path)
        except OSError:
            return False
        return True

    def marks(self) -> dict[str, int]:
        """The last sequence number each device has sent."""
        with self._lock:
            return dict(self._seq)

    def _next_seq(self, dev: str) -> int:
        self._seq[dev] += 1
        return self._seq[dev]

    def report_round(self) -> None:
        for dev, kind in self.reporting:
            with self._lock:
                seq = self._next_seq(dev)
            readings: dict[str, float] = {"temperature": 21.0 + (self._seq[dev] % 20) / 10}
            if kind != "heat":
                readings["smoke_obscuration"] = 0.1
            frame = Frame(dev=dev, type=kind, seq=seq, ts=self.clock(), r=readings)
            self._send(frame)
            self.sent_readings += len(readings)

    def press(self) -> str:
        """Press the next unpressed panic button (one household each: one incident each)."""
        dev = self.buttons[len(self.pressed)]
        with self._lock:
            seq = self._next_seq(dev)
        frame = Frame(dev=dev, type="panic", seq=seq, ts=self.clock(), e="button", x=1.0)
        self._send(frame)
        self.pressed.append(dev)
        return dev

    def start(self, period: float = PERIOD_S) -> Feeder:
        def run() -> None:
            while not self._stop.wait(period):
                self.report_round()

        self._stop.clear()
        self._thread = threading.Thread(target=run, name="feeder", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def close(self) -> None:
        self.stop()
        if self._device is not None:
            self._device.close()


@dataclass
class Books:
    """What the pipeline holds, end to end."""

    readings: int
    reading_identities: int
    panic_alerts: int
    panic_alert_devices: int
    panic_incidents: int
    unlinked_panic_alerts: int
    outbox_sms: int
    outbox_sms_open: int
    carrier_sms: int
    carrier_keys: int
    outbox_keys_at_carrier: int


class Pipeline:
    def __init__(
        self, dsn: str, district: District, stack: LocalStack, settings: Settings,
        gateway: Gateway, carrier: FakeSmsApi, services: dict[str, Service], feeder: Feeder,
        uplink: Uplink,
    ) -> None:  # fmt: skip
        self.uplink = uplink
        self.dsn = dsn
        self.district = district
        self.stack = stack
        self.settings = settings
        self.gateway = gateway
        self.carrier = carrier
        self.services = services
        self.feeder = feeder

    def start(self) -> Pipeline:
        """The services and the gateway side by side (its start-up is seconds of imports under
        load, and nothing reaches it before the feeder starts); ready when all four are."""
        for s in self.services.values():
            s.launch()
        self.gateway.launch()
        for s in self.services.values():
            s.wait_ready()
        self.gateway.wait_listening()
        return self

    @property
    def ingest(self) -> Service:
        return self.services["ingest"]

    @property
    def alerting(self) -> Service:
        return self.services["alerting"]

    @property
    def notifier(self) -> Service:
        return self.services["notifier"]

    def one(self, sql: str, *params: Any) -> Any:
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute(sql, params).fetchone()
        assert row is not None
        return row[0]

    def books(self) -> Books:
        keys = {m.key for m in self.carrier.messages}
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:

            def one(sql: str, *params: Any) -> int:
                row = conn.execute(sql, params).fetchone()
                assert row is not None
                return int(row[0])

            outbox_keys = [
                r[0]
                for r in conn.execute(
                    "select idempotency_key from notification_outbox where channel = 'sms'"
                ).fetchall()
            ]
            return Books(
                readings=one("select count(*) from readings"),
                reading_identities=one(
                    "select count(distinct (device_id, seq, metric)) from readings"
                ),
                panic_alerts=one("select count(*) from alerts where kind = 'panic'"),
                panic_alert_devices=one(
                    "select count(distinct device_id) from alerts where kind = 'panic'"
                ),
                panic_incidents=one(
                    "select count(distinct incident_id) from alerts where kind = 'panic'"
                ),
                unlinked_panic_alerts=one(
                    "select count(*) from alerts where kind = 'panic' and incident_id is null"
                ),
                outbox_sms=len(outbox_keys),
                outbox_sms_open=one(
                    "select count(*) from notification_outbox where channel = 'sms' "
                    "and status in ('pending', 'sending')"
                ),
                carrier_sms=len(self.carrier.messages),
                carrier_keys=len(keys),
                outbox_keys_at_carrier=len(keys & set(outbox_keys)),
            )

    def settle(self, timeout: float = 90.0, *, dropped_readings: int = 0) -> Books:
        """Wait for the books to balance, give a late duplicate time to land, then check that
        nothing was lost and nothing doubled anywhere (but the `dropped_readings` a gateway
        owned up to giving up)."""
        presses = len(self.feeder.pressed)
        expected = self.feeder.sent_readings - dropped_readings

        def balanced() -> bool:
            b = self.books()
            return (
                b.readings >= expected
                and b.panic_incidents >= presses
                and b.unlinked_panic_alerts == 0
                and b.outbox_sms > 0
                and b.outbox_sms_open == 0
                and b.carrier_sms >= b.outbox_sms
            )

        wait_for(balanced, timeout, f"the books to balance ({self.books()})")
        time.sleep(1.5)  # a duplicate would land now
        b = self.books()
        print(f"books: sent {self.feeder.sent_readings} readings, {presses} presses; {b}")
        assert b.readings == expected, "readings lost or stored twice"
        assert b.reading_identities == b.readings
        assert b.panic_alerts == presses, "a press lost or raised twice"
        assert b.panic_alert_devices == presses
        assert b.panic_incidents == presses, "one incident per press"
        assert b.unlinked_panic_alerts == 0
        assert b.outbox_sms_open == 0, "every SMS went out"
        assert b.carrier_sms == b.outbox_sms, "an SMS lost or sent twice"
        assert b.carrier_keys == b.carrier_sms
        assert b.outbox_keys_at_carrier == b.outbox_sms
        return b


def _quiet_policy(folder: Path) -> Path:
    """The bundled policy with deadlines of hours, so no escalation adds SMS mid-test."""
    text = DEFAULT_POLICY.read_text(encoding="utf-8")
    for name, value in (("acknowledge_s", 3600), ("dispatch_s", 7200), ("arrive_s", 10800)):
        text = re.sub(rf"{name} = \d+", f"{name} = {value}", text)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "default.toml").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def district_db(migrated_db: str) -> tuple[str, District]:
    district = build_district(11, 1, 20)
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        seed(conn, district)
    return migrated_db, district


@pytest.fixture
def carrier() -> Iterator[FakeSmsApi]:
    server = FakeSmsApi().start()
    yield server
    server.stop()


@pytest.fixture
def gateway_account(
    district_db: tuple[str, District], stack: LocalStack
) -> Iterator[tuple[Account, str]]:
    """A fresh gateway id (and broker account) owning the district's first building's devices."""
    dsn, district = district_db
    old = district.gateways[0]
    acc = Account(f"gw-{uuid.uuid4().hex[:10]}", uuid.uuid4().hex)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "insert into gateways (id, site_id, building_id, mqtt_username) "
            "values (%s, %s, %s, %s)",
            (acc.gateway_id, old.site_id, old.building_id, acc.gateway_id),
        )
        conn.execute(
            "update devices set gateway_id = %s where gateway_id = %s", (acc.gateway_id, old.id)
        )
    auth = BrokerAuth.for_stack(stack)
    auth.add_gateway(acc.gateway_id, acc.password)
    try:
        yield acc, old.site_id
    finally:
        auth.remove_gateway(acc.gateway_id)


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A short folder: a Unix socket path must stay under 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="vflt-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def service_env(dsn: str, var: Path, settings: Settings, carrier: FakeSmsApi) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        VIGIL_CONFIG=str(var / "absent.toml"),
        VIGIL_DATABASE_URL=dsn,
        VIGIL_VAR_DIR=str(var),
        VIGIL_STACK_PG_PORT=str(settings.stack_pg_port),
        VIGIL_STACK_MQTT_PORT=str(settings.stack_mqtt_port),
        VIGIL_MQTT_PORT=str(settings.stack_mqtt_port),
        VIGIL_ESCALATION_DIR=str(_quiet_policy(var / "policies")),
        VIGIL_INGEST_BATCH_DEADLINE_S="0.05",
        VIGIL_SMS_PROVIDER="http",
        VIGIL_SMS_HTTP_URL=carrier.url,
        VIGIL_SMS_HTTP_ACCOUNT_SID=SID,
        VIGIL_SMS_HTTP_AUTH_TOKEN=TOKEN,
        VIGIL_SMS_RETRY_CAP_S="2",
        VIGIL_NOTIFIER_LEASE_S="5",  # a killed notifier's claim is taken over after 5 s
        VIGIL_METRICS_PORT="0",
        VIGIL_LOG_LEVEL="INFO",
    )
    return env


@pytest.fixture
def pipeline_parts(
    district_db: tuple[str, District],
    gateway_account: tuple[Account, str],
    carrier: FakeSmsApi,
    stack: LocalStack,
    settings: Settings,
    workdir: Path,
) -> Iterator[Pipeline]:
    """Everything built, nothing started: a test may change the gateway's options first."""
    dsn, district = district_db
    account, site = gateway_account
    prefix = f"flt-{uuid.uuid4().hex[:8]}"
    with scratch_var() as var:
        env = service_env(dsn, var, settings, carrier)
        port = free_port()
        services = {
            "ingest": Service(
                "ingest",
                ["ingest", "run", "--client-prefix", prefix, "--metrics-port", str(port)],
                env, var / "ingest.log", lambda s: healthy(port),
            ),
            "alerting": Service(
                "alerting", ["alerting", "run"], env, var / "alerting.log",
                lambda s: s.log_count("alerting service ready") >= s.starts,
            ),
            "notifier": Service(
                "notifier", ["notifier", "run"], env, var / "notifier.log",
                lambda s: time.monotonic() - s.launched > 2.0,  # it says nothing when it starts
            ),
        }  # fmt: skip
        uplink = Uplink(settings.stack_mqtt_port)
        gw = Gateway(workdir, account, site, uplink.port)
        devices = district.devices_of(district.gateways[0].id)
        households: set[str] = set()
        buttons = []
        for d in devices:
            if d.type == "panic" and d.household_id and d.household_id not in households:
                households.add(d.household_id)
                buttons.append(d.id)
        reporting = [(d.id, d.type) for d in devices if d.type in REPORTING]
        feeder = Feeder(gw, reporting, buttons)
        pipe = Pipeline(dsn, district, stack, settings, gw, carrier, services, feeder, uplink)
        try:
            yield pipe
        finally:
            feeder.close()
            gw.stop()
            uplink.close()
            for s in services.values():  # all at once, then each waited for
                s.terminate()
            for s in services.values():
                s.stop()
            for name, text in [("gateway", gw.log())] + [(n, s.log()) for n, s in services.items()]:
                print(f"---- {name} log (tail) ----\n{text[-2500:]}")  # shown when a test fails
            if not stack.status()["mqtt"]["running"]:
                stack.start_mqtt()
            if not stack.status()["postgres"]["running"]:
                stack.start_postgres()
            forget_sessions(settings, f"{prefix}-0of1")


@pytest.fixture
def pipeline(pipeline_parts: Pipeline) -> Pipeline:
    """The whole pipeline running, the feeder not yet started."""
    return pipeline_parts.start()
