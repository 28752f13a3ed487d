"""The container health probe: exit 0 on 2xx, 1 with a reason otherwise."""

from __future__ import annotations

import socket
import subprocess
import sys

from vigil.observability import Health, ObservabilityServer, registry_for
from vigil.probe import main, probe


def test_a_healthy_service_passes() -> None:
    with ObservabilityServer(registry_for(), Health("ingest", {"db": lambda: None})) as server:
        assert probe(f"{server.url}/healthz") is None
        assert main([f"{server.url}/healthz"]) == 0


def test_a_failing_service_fails_with_the_body() -> None:
    health = Health("ingest", {"db": lambda: "database unreachable"})
    with ObservabilityServer(registry_for(), health) as server:
        why = probe(f"{server.url}/healthz")
    assert why is not None
    assert "503" in why
    assert "database unreachable" in why


def test_nothing_listening_fails() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    why = probe(f"http://127.0.0.1:{port}/healthz", timeout_s=2)
    assert why is not None
    assert "unreachable" in why


def test_the_module_runs_as_a_command() -> None:
    health = Health("notifier", {"smpp": lambda: "bind refused"})
    with ObservabilityServer(registry_for(), health) as server:
        result = subprocess.run(
            [sys.executable, "-m", "vigil.probe", f"{server.url}/healthz"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    assert "bind refused" in result.stderr
    usage = subprocess.run(
        [sys.executable, "-m", "vigil.probe"], capture_output=True, text=True, check=False
    )
    assert usage.returncode == 2
    assert "usage" in usage.stderr


def test_a_non_http_url_is_refused() -> None:
    assert probe("file:///etc/passwd") == "'file:///etc/passwd' is not an http(s) URL"
