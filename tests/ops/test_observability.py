"""/metrics and /healthz over real loopback HTTP, from the plain server and the FastAPI router."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from vigil.observability import (
    DETECTORS,
    INGEST,
    INGEST_DEAD_LETTERS_TOTAL,
    INGEST_READINGS_TOTAL,
    Health,
    ObservabilityServer,
    flag,
    registry_for,
    serve,
)
from vigil.observability.router import observability_router
from vigil.settings import Settings


def _get(url: str) -> tuple[int, str, str]:
    """Status, content type and body, for error statuses too."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def _families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_metrics_are_served_in_the_prometheus_text_format() -> None:
    registry = registry_for(INGEST, DETECTORS)
    stored_now = registry.get_sample_value("vigil_ingest_readings_total", {"outcome": "stored"})
    before = stored_now or 0.0
    INGEST_READINGS_TOTAL.labels(outcome="stored").inc(812)
    INGEST_DEAD_LETTERS_TOTAL.labels(reason="bad_payload").inc()
    with ObservabilityServer(registry, Health("ingest")) as server:
        status, content_type, body = _get(f"{server.url}/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=")
    families = _families(body)
    readings = families["vigil_ingest_readings"]
    assert readings.type == "counter"
    stored = [s for s in readings.samples if s.name == "vigil_ingest_readings_total"]
    assert [s.value for s in stored if s.labels == {"outcome": "stored"}] == [before + 812]
    dead = families["vigil_ingest_dead_letters"].samples
    assert any(s.labels == {"reason": "bad_payload"} and s.value >= 1 for s in dead)
    assert families["vigil_ingest_commit_seconds"].type == "histogram"
    assert "vigil_detector_readings" in families  # the ingest worker scores in process
    assert "process_cpu_seconds" in families  # the process's own figures come along
    assert families["vigil_build_info"].samples[0].labels["version"]


def test_a_registry_exports_only_the_groups_it_was_given() -> None:
    with ObservabilityServer(registry_for(), Health("console")) as server:
        _, _, body = _get(f"{server.url}/metrics")
    names = set(_families(body))
    assert "vigil_health_check_up" in names
    assert not any(n.startswith("vigil_ingest_") for n in names)


def test_health_is_200_while_every_check_passes() -> None:
    health = Health("alerting", {"database": lambda: None, "broker": flag(lambda: True, "down")})
    with ObservabilityServer(registry_for(), health) as server:
        status, content_type, body = _get(f"{server.url}/healthz")
    assert status == 200
    assert content_type == "application/json"
    assert json.loads(body) == {
        "status": "ok",
        "service": "alerting",
        "checks": {"broker": {"ok": True}, "database": {"ok": True}},
    }


def test_health_is_503_and_says_which_check_fails() -> None:
    connected = threading.Event()
    health = Health("ingest", {"database": lambda: None})
    health.add("broker", flag(connected.is_set, "not connected to the broker"))
    with ObservabilityServer(registry_for(INGEST), health) as server:
        status, _, body = _get(f"{server.url}/healthz")
        assert status == 503
        report = json.loads(body)
        assert report["status"] == "failing"
        assert report["checks"]["broker"] == {"ok": False, "error": "not connected to the broker"}
        assert report["checks"]["database"] == {"ok": True}
        _, _, metrics = _get(f"{server.url}/metrics")
        up = {
            s.labels["check"]: s.value for s in _families(metrics)["vigil_health_check_up"].samples
        }
        assert up["broker"] == 0.0
        assert up["database"] == 1.0
        connected.set()  # the service recovers: the next poll is healthy again
        assert _get(f"{server.url}/healthz")[0] == 200


def test_a_check_that_raises_fails_with_its_message() -> None:
    def broken() -> str | None:
        raise RuntimeError("pool exhausted")

    with ObservabilityServer(registry_for(), Health("notifier", {"outbox": broken})) as server:
        status, _, body = _get(f"{server.url}/healthz")
    assert status == 503
    assert (
        json.loads(body)["checks"]["outbox"]["error"] == "check raised RuntimeError: pool exhausted"
    )


def test_an_unknown_path_is_404() -> None:
    with ObservabilityServer(registry_for(), Health("gateway")) as server:
        assert _get(f"{server.url}/metrics.txt")[0] == 404


def test_a_check_name_is_registered_once() -> None:
    health = Health("ingest", {"database": lambda: None})
    with pytest.raises(ValueError, match="'database' is already registered"):
        health.add("database", lambda: None)


def test_serve_is_off_at_port_0_and_listens_on_the_configured_port() -> None:
    assert serve(Settings(metrics_port=0), Health("ingest"), INGEST) is None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = serve(Settings(metrics_port=port, metrics_host="127.0.0.1"), Health("ingest"), INGEST)
    assert server is not None
    try:
        assert server.port == port
        assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    finally:
        server.stop()


@pytest.fixture
def console_url() -> Iterator[tuple[str, threading.Event]]:
    """A FastAPI app with the router, served by uvicorn on a loopback port; yields its URL."""
    outbox_ok = threading.Event()
    outbox_ok.set()
    app = FastAPI()
    health = Health("console", {"outbox": flag(outbox_ok.is_set, "outbox unreadable")})
    app.include_router(observability_router(registry_for(), health))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}", outbox_ok
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_the_fastapi_router_serves_metrics_and_health(
    console_url: tuple[str, threading.Event],
) -> None:
    url, outbox_ok = console_url
    status, content_type, body = _get(f"{url}/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=")
    assert "vigil_build_info" in _families(body)
    assert _get(f"{url}/healthz")[0] == 200
    outbox_ok.clear()
    status, _, body = _get(f"{url}/healthz")
    assert status == 503
    assert json.loads(body)["checks"]["outbox"] == {"ok": False, "error": "outbox unreadable"}


def test_the_metrics_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_METRICS_PORT", "9100")
    monkeypatch.setenv("VIGIL_METRICS_HOST", "0.0.0.0")
    monkeypatch.setenv("VIGIL_LOG_LEVEL", "warning")
    settings = Settings()
    assert (settings.metrics_port, settings.metrics_host) == (9100, "0.0.0.0")
    assert settings.log_level == "WARNING"
    with pytest.raises(ValueError, match="log_level"):
        Settings.model_validate({"log_level": "loud"})
