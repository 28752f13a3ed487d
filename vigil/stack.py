"""The local stack: a private PostgreSQL + TimescaleDB cluster and a private Mosquitto.

Used by the demo, the benchmarks and the test fixtures alike. Everything lives under
`settings.var_dir`; the machine's own PostgreSQL and Mosquitto services are never touched,
and two checkouts run side by side on different ports.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from vigil.broker_auth import with_service_account
from vigil.codec import MAX_MESSAGE_BYTES
from vigil.errors import StackError
from vigil.settings import Settings

PG_BIN = Path(os.environ.get("VIGIL_PG_BIN", "/usr/lib/postgresql/15/bin"))
MOSQUITTO = os.environ.get("VIGIL_MOSQUITTO", "/usr/sbin/mosquitto")
# Debian's path first, then the eclipse-mosquitto image's.
DYNSEC_PLUGINS = (
    "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
)
# Broker limits (docs/security.md): one packet at most the codec's message limit plus topic and
# properties; per session at most this many queued messages and bytes.
MAX_PACKET_BYTES = MAX_MESSAGE_BYTES + 16 * 1024
MAX_QUEUED_MESSAGES = 1_000_000
MAX_QUEUED_BYTES = 256 * 1024 * 1024
SESSION_EXPIRY = "7d"
DB_NAME = "vigil"
DB_USER = "vigil"
START_TIMEOUT_S = 30.0


def dynsec_plugin() -> str:
    """Mosquitto's dynamic-security plugin (`VIGIL_MOSQUITTO_DYNSEC` names another)."""
    override = os.environ.get("VIGIL_MOSQUITTO_DYNSEC")
    for candidate in (override,) if override else DYNSEC_PLUGINS:
        if Path(candidate).is_file():
            return candidate
    raise StackError(
        "Mosquitto's dynamic-security plugin (mosquitto_dynamic_security.so) was not found; "
        "install Mosquitto 2.x or set VIGIL_MOSQUITTO_DYNSEC to its path"
    )


def _is_root() -> bool:
    return os.geteuid() == 0


def _service_user(name: str) -> str | None:
    """PostgreSQL refuses to run as root, so root runs each server as its Debian system user."""
    return name if _is_root() else None


def _pid_alive(pid: int) -> bool:
    """True for a running process; a zombie (exited, not yet reaped by init) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _grant_traverse(path: Path) -> None:
    """Give other users search (x) permission on the ancestors of `path`.

    A checkout inside a 0700 folder (as `mktemp -d` makes) is otherwise unreachable for the
    postgres and mosquitto users; search permission lets them reach their own folders only.
    """
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def _run_as(user: str | None, args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    cmd = ["runuser", "-u", user, "--", *args] if user else args
    return subprocess.run(cmd, check=False, text=True, capture_output=True, **kwargs)


@dataclass(frozen=True)
class StackPaths:
    """Where each part of the stack keeps its files."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / "stack.json"

    @property
    def pg_data(self) -> Path:
        return self.root / "postgres" / "data"

    @property
    def pg_run(self) -> Path:
        return self.root / "postgres" / "run"

    @property
    def pg_log(self) -> Path:
        return self.root / "postgres" / "postgres.log"

    @property
    def pg_password(self) -> Path:
        return self.root / "postgres" / "password"

    @property
    def mqtt_dir(self) -> Path:
        return self.root / "mosquitto"

    @property
    def mqtt_conf(self) -> Path:
        return self.mqtt_dir / "mosquitto.conf"

    @property
    def mqtt_dynsec(self) -> Path:
        """The dynamic-security plugin's accounts and roles (it rewrites the file on changes)."""
        return self.mqtt_dir / "dynamic-security.json"

    @property
    def mqtt_data(self) -> Path:
        return self.mqtt_dir / "data"

    @property
    def mqtt_log(self) -> Path:
        return self.mqtt_dir / "mosquitto.log"


class LocalStack:
    """Starts, stops and reports on the private PostgreSQL and Mosquitto of one checkout."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.paths = StackPaths(settings.var_dir.resolve())

    # ---- state -------------------------------------------------------------------------
    def _read_state(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.paths.state.read_text())
        except (OSError, ValueError):
            return {}
        return data

    def _write_state(self, state: dict[str, Any]) -> None:
        tmp = self.paths.state.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.paths.state)

    def _password(self) -> str:
        if not self.paths.pg_password.exists():
            self.paths.pg_password.parent.mkdir(parents=True, exist_ok=True)
            self.paths.pg_password.write_text(secrets.token_urlsafe(18))
            self.paths.pg_password.chmod(0o600)
        return self.paths.pg_password.read_text().strip()

    @property
    def dsn(self) -> str:
        port = self.settings.stack_pg_port
        return f"postgresql://{DB_USER}:{self._password()}@127.0.0.1:{port}/{DB_NAME}"

    def admin_dsn(self, dbname: str = "postgres") -> str:
        return self.dsn.rsplit("/", 1)[0] + f"/{dbname}"

    # ---- PostgreSQL --------------------------------------------------------------------
    def _pg_pid(self) -> int | None:
        pidfile = self.paths.pg_data / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        if _pid_alive(pid) and str(self.paths.pg_data) in _cmdline(pid):
            return pid
        return None

    def _pg_init(self) -> None:
        if (self.paths.pg_data / "PG_VERSION").exists():
            return
        if not (PG_BIN / "initdb").exists():
            raise StackError(f"PostgreSQL 15 is not installed ({PG_BIN}); run `make setup`")
        user = _service_user("postgres")
        self.paths.pg_data.mkdir(parents=True, exist_ok=True)
        self.paths.pg_run.mkdir(parents=True, exist_ok=True)
        pwfile = self.paths.root / "postgres" / "pwfile"
        pwfile.write_text(self._password() + "\n")
        if user:
            _grant_traverse(self.paths.root)
            _chown_tree(self.paths.root / "postgres", user)
        result = _run_as(
            user,
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(self.paths.pg_data),
                "-U",
                DB_USER,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
        )
        pwfile.unlink()
        if result.returncode != 0:
            shutil.rmtree(self.paths.pg_data, ignore_errors=True)
            raise StackError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")
        conf = self.paths.pg_data / "postgresql.conf"
        with conf.open("a") as f:
            f.write(
                "\n# --- Vigil local stack ---\n"
                "shared_preload_libraries = 'timescaledb'\n"
                "timescaledb.telemetry_level = off\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.paths.pg_run}'\n"
                "max_connections = 200\n"
                "shared_buffers = 512MB\n"
                # Checkpoints by time, not by WAL volume: 60 s of ingest at 500,000 readings/s
                # writes about 4.5 GB of WAL, and a checkpoint forced within it costs the
                # full-page writes after it (bench-ingest 2-5 % slower on a fast machine).
                "max_wal_size = 16GB\n"
                "checkpoint_timeout = 15min\n"
                "timescaledb.max_background_workers = 8\n"
                "max_worker_processes = 16\n"
            )

    def _pg_start(self) -> int:
        pid = self._pg_pid()
        if pid is not None:
            return pid
        port = self.settings.stack_pg_port
        if _port_open("127.0.0.1", port):
            raise StackError(f"port {port} is taken by another program; set VIGIL_STACK_PG_PORT")
        user = _service_user("postgres")
        if user:
            _chown_tree(self.paths.root / "postgres", user)
        result = _run_as(
            user,
            [
                str(PG_BIN / "pg_ctl"),
                "start",
                "-D",
                str(self.paths.pg_data),
                "-w",
                "-t",
                str(int(START_TIMEOUT_S)),
                "-l",
                str(self.paths.pg_log),
                "-o",
                f"-p {port}",
            ],
        )
        if result.returncode != 0:
            tail = self.paths.pg_log.read_text()[-2000:] if self.paths.pg_log.exists() else ""
            raise StackError(f"PostgreSQL did not start: {result.stderr.strip()}\n{tail}")
        self._pg_create_database()
        pid = self._pg_pid()
        if pid is None:
            raise StackError("PostgreSQL started but wrote no postmaster.pid")
        return pid

    def _pg_create_database(self) -> None:
        with psycopg.connect(self.admin_dsn(), autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s", (DB_NAME,))
            if exists.fetchone() is None:
                conn.execute(f'create database "{DB_NAME}"')
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute("create extension if not exists timescaledb")

    def _pg_stop(self) -> None:
        if self._pg_pid() is None:
            return
        _run_as(
            _service_user("postgres"),
            [str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.paths.pg_data), "-m", "fast", "-w"],
        )

    # ---- Mosquitto ---------------------------------------------------------------------
    def _mqtt_write_accounts(self) -> None:
        """(Re)set the service account in the plugin's file from the settings, keeping the
        gateway accounts; only while the broker is stopped (it owns the file while it runs)."""
        path = self.paths.mqtt_dynsec
        try:
            config: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError:
            config = {}
        except ValueError as exc:
            raise StackError(f"{path} is not valid JSON: {exc}") from exc
        config = with_service_account(
            config, self.settings.mqtt_username, self.settings.mqtt_password.get_secret_value()
        )
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(config, f, indent=1)
        tmp.replace(path)

    def _mqtt_write_config(self) -> None:
        p = self.paths
        p.mqtt_data.mkdir(parents=True, exist_ok=True)
        self._mqtt_write_accounts()
        user = _service_user("mosquitto")
        lines = [
            "per_listener_settings false",
            f"listener {self.settings.stack_mqtt_port} 127.0.0.1",
            "allow_anonymous false",
            f"plugin {dynsec_plugin()}",
            f"plugin_opt_config_file {p.mqtt_dynsec}",
            "persistence true",
            f"persistence_location {p.mqtt_data}/",
            # What a restart may lose is bounded by the autosave; the file stays small because
            # the queues below are bounded by bytes (docs/security.md, "A bad day").
            "autosave_interval 10",
            # No message on the wire contract is over 256 KiB (vigil/codec.py): a bigger packet
            # is refused at the door (a gateway once kept a 20 MiB retained message).
            f"max_packet_size {MAX_PACKET_BYTES}",
            # A session nobody resumes (a worker retired or renamed, a gateway removed) is
            # dropped after a week instead of queueing forever.
            f"persistent_client_expiration {SESSION_EXPIRY}",
            # Each session's queue is bounded by bytes as well as count. Ingest reads telemetry
            # and events on separate sessions (ingest/service.py lanes), so a worker that is gone
            # loses telemetry at its lane's limit while its events lane still has all of its own
            # room: telemetry is shed before events. Dropped messages are counted (the broker's
            # $SYS dropped counter, vigil_broker_dropped_messages) and raise a console alert.
            f"max_queued_messages {MAX_QUEUED_MESSAGES}",
            f"max_queued_bytes {MAX_QUEUED_BYTES}",
            "max_inflight_messages 1000",
            "set_tcp_nodelay true",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]
        if user:
            lines.append(f"user {user}")
        p.mqtt_conf.write_text("\n".join(lines) + "\n")
        if user:
            _grant_traverse(p.root)
            _chown_tree(p.mqtt_dir, user)

    def mqtt_pid(self) -> int | None:
        """The stack's running Mosquitto, if it runs."""
        pid = self._read_state().get("mqtt", {}).get("pid")
        if isinstance(pid, int) and _pid_alive(pid) and str(self.paths.mqtt_conf) in _cmdline(pid):
            return pid
        return None

    def _mqtt_start(self) -> int:
        pid = self.mqtt_pid()
        if pid is not None:
            return pid
        port = self.settings.stack_mqtt_port
        if _port_open("127.0.0.1", port):
            raise StackError(f"port {port} is taken by another program; set VIGIL_STACK_MQTT_PORT")
        self._mqtt_write_config()
        log = self.paths.mqtt_log.open("ab")
        proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.paths.mqtt_conf)],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = self.paths.mqtt_log.read_text()[-2000:]
                raise StackError(f"Mosquitto exited with code {proc.returncode}:\n{tail}")
            if _port_open("127.0.0.1", port):
                return proc.pid
            time.sleep(0.05)
        proc.kill()
        raise StackError(f"Mosquitto did not answer on port {port} within {START_TIMEOUT_S}s")

    def _mqtt_stop(self) -> None:
        pid = self.mqtt_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)

    # ---- public ------------------------------------------------------------------------
    def up(self) -> dict[str, Any]:
        """Start whatever is not running yet; harmless when everything already runs."""
        self.paths.root.mkdir(parents=True, exist_ok=True)
        self._pg_init()
        pg_pid = self._pg_start()
        state = self._read_state()
        state["postgres"] = {"pid": pg_pid, "port": self.settings.stack_pg_port}
        self._write_state(state)
        mqtt_pid = self._mqtt_start()
        state["mqtt"] = {"pid": mqtt_pid, "port": self.settings.stack_mqtt_port}
        self._write_state(state)
        return self.status()

    def down(self) -> None:
        """Stop exactly the processes this checkout started."""
        self._mqtt_stop()
        self._pg_stop()
        state = self._read_state()
        for part in ("postgres", "mqtt"):
            state.pop(part, None)
        if self.paths.root.exists():
            self._write_state(state)

    def restart_postgres(self) -> None:
        """Stop and start PostgreSQL alone (fault-injection tests)."""
        self._pg_stop()
        self._pg_start()

    def stop_postgres(self) -> None:
        self._pg_stop()

    def start_postgres(self) -> None:
        self._pg_start()

    def stop_mqtt(self) -> None:
        self._mqtt_stop()

    def start_mqtt(self) -> None:
        state = self._read_state()
        state["mqtt"] = {"pid": self._mqtt_start(), "port": self.settings.stack_mqtt_port}
        self._write_state(state)

    def status(self) -> dict[str, Any]:
        pg_pid = self._pg_pid()
        mqtt_pid = self.mqtt_pid()
        return {
            "var_dir": str(self.paths.root),
            "postgres": {
                "running": pg_pid is not None,
                "pid": pg_pid,
                "port": self.settings.stack_pg_port,
                "dsn": self.dsn if self.paths.pg_password.exists() else None,
                "log": str(self.paths.pg_log),
            },
            "mqtt": {
                "running": mqtt_pid is not None,
                "pid": mqtt_pid,
                "host": "127.0.0.1",
                "port": self.settings.stack_mqtt_port,
                "username": self.settings.mqtt_username,
                "log": str(self.paths.mqtt_log),
            },
        }
