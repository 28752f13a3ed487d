"""`make demo` brings the stack up, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.fix_stack import TEST_MQTT_PORT, TEST_PG_PORT, scratch_var
from vigil.stack import _pid_alive

pytestmark = pytest.mark.stack


def _processes_using(path: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _pid_alive(int(entry.name)):
            try:
                cmd = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(path) in cmd:
                found.append(int(entry.name))
    return found


def test_ctrl_c_stops_everything_the_demo_started() -> None:
    with scratch_var() as var:
        _run_demo_and_interrupt(var)


def _run_demo_and_interrupt(var: Path) -> None:
    env = {
        **os.environ,
        "VIGIL_VAR_DIR": str(var),
        "VIGIL_STACK_PG_PORT": str(TEST_PG_PORT + 200),
        "VIGIL_STACK_MQTT_PORT": str(TEST_MQTT_PORT + 200),
        "VIGIL_CONSOLE_PORT": str(TEST_PG_PORT + 201),
    }
    demo = subprocess.Popen(
        [sys.executable, "-m", "vigil.cli", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert demo.stdout is not None
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = demo.stdout.readline()
        seen.append(line)
        if "Press Ctrl-C" in line or not line:
            break
    assert any("Vigil demo is running" in line for line in seen), "".join(seen)
    assert _processes_using(var), "the demo should have started servers under its var dir"
    console_url = f"http://127.0.0.1:{TEST_PG_PORT + 201}/api/config"
    assert any(f"Console: http://127.0.0.1:{TEST_PG_PORT + 201}/" in line for line in seen)
    assert any("sign in as admin" in line for line in seen)
    with urllib.request.urlopen(console_url, timeout=10) as response:
        assert response.status == 200
    demo.send_signal(signal.SIGINT)
    rest, _ = demo.communicate(timeout=60)
    assert demo.returncode == 0, rest
    assert "stopped" in rest
    assert _processes_using(var) == []
