"""The console's HTTP server in a background thread, for the demo and the browser tests."""

from __future__ import annotations

import threading
import time

import uvicorn
from fastapi import FastAPI

from console.api.errors import ConsoleError


class ConsoleServer:
    """uvicorn serving `app` on host:port from a daemon thread; `stop` waits for it to finish."""

    def __init__(self, app: FastAPI, *, host: str = "127.0.0.1", port: int = 8760) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="on", proxy_headers=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="console", daemon=True)
        self.url = f"http://{host}:{port}/"

    def start(self, timeout_s: float = 30.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise ConsoleError(f"the console could not start on {self.url} (port taken?)")
            if time.monotonic() > deadline:
                raise ConsoleError(f"the console did not start on {self.url} in {timeout_s} s")
            time.sleep(0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
