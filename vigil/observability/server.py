"""`/metrics` and `/healthz` over HTTP for services that are not FastAPI apps.

A standard-library server in a daemon thread: it needs no event loop, costs nothing between
scrapes, and keeps working while the service's own threads are busy, which is when an operator
most wants to look.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from vigil.observability.health import Health
from vigil.observability.metrics import MetricGroup, registry_for
from vigil.settings import Settings

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"


class ObservabilityServer:
    """Serves one registry and one `Health`; port 0 picks a free port (see `.port`)."""

    def __init__(
        self, registry: CollectorRegistry, health: Health, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.registry = registry
        self.health = health
        self._server = ThreadingHTTPServer((host, port), _handler(registry, health))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"{health.service}-observability", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])
        return f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{self.port}"  # noqa: S104

    def start(self) -> ObservabilityServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)

    def __enter__(self) -> ObservabilityServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(settings: Settings, health: Health, *groups: MetricGroup) -> ObservabilityServer | None:
    """Start the server on the configured address; None when `VIGIL_METRICS_PORT` is 0 (off)."""
    if settings.metrics_port == 0:
        return None
    server = ObservabilityServer(
        registry_for(*groups), health, settings.metrics_host, settings.metrics_port
    ).start()
    log.info("metrics and health on %s%s and %s", server.url, METRICS_PATH, HEALTH_PATH)
    return server


def _handler(registry: CollectorRegistry, health: Health) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == METRICS_PATH:
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            elif path == HEALTH_PATH:
                report = health.report()
                body = json.dumps(report.as_json()).encode()
                self._send(report.http_status, "application/json", body)
            else:
                self._send(404, "text/plain; charset=utf-8", b"try /metrics or /healthz\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Scrapes and health polls come every few seconds; they are not worth a log line."""

    return Handler
