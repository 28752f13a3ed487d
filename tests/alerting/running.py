"""The alerting services run in the test process: the incident service and the notifier in
threads, the web app under uvicorn on a free loopback port, and a WebSocket client."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import uvicorn
from websockets.sync.client import ClientConnection, connect

from alerting.notifier import Notifier, notification_backoff
from alerting.policies import PolicyBook
from alerting.service import run
from alerting.sms.base import SmsProvider
from alerting.voice.base import VoiceProvider
from console.api import accounts
from console.api.roles import Role
from console.app import create_app
from vigil.backoff import Backoff
from vigil.harness import free_port, wait_for
from vigil.settings import Settings


class AlertingThread:
    def __init__(self, dsn: str, book: PolicyBook) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=run, args=(dsn, book, self.stop), daemon=True)

    def __enter__(self) -> AlertingThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


class NotifierThread:
    def __init__(
        self,
        dsn: str,
        provider: SmsProvider,
        backoff: Backoff | None = None,
        voice: VoiceProvider | None = None,
    ) -> None:
        self.notifier = Notifier(
            dsn, provider, backoff=backoff or notification_backoff(maximum=2.0), voice=voice
        )
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.loop.run_until_complete(self.notifier.run(self.stop))

    def __enter__(self) -> NotifierThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)


class AppServer:
    """The app on a free port; `settings` may be a function of the app's URL (for webhooks)."""

    def __init__(self, settings: Settings | Callable[[str], Settings], dsn: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dsn = dsn
        self._token: str | None = None
        if callable(settings):
            settings = settings(self.url)
        config = uvicorn.Config(
            create_app(settings, dsn=dsn), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> AppServer:
        self.thread.start()
        wait_for(lambda: self.server.started, what="the app to start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def auth_headers(self) -> dict[str, str]:
        """A supervisor's session: the live stream is for signed-in console users only."""
        if self._token is None:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                row = conn.execute("select id from users where username = 'watcher'").fetchone()
                user_id = (
                    row[0]
                    if row
                    else accounts.create_user(
                        conn, username="watcher", password="watcher-password", role=Role.SUPERVISOR
                    )
                )
                self._token = accounts.open_session(
                    conn,
                    user_id=user_id,
                    now=datetime.now(UTC),
                    lifetime=timedelta(hours=1),
                    remote_addr=None,
                    user_agent="tests",
                )
        return {"Authorization": f"Bearer {self._token}"}

    def websocket(self, path: str = "/api/live") -> ClientConnection:
        return connect(
            f"ws://127.0.0.1:{self.port}{path}",
            open_timeout=5,
            additional_headers=self.auth_headers(),
        )


def next_message(
    ws: ClientConnection, match: Callable[[dict[str, Any]], bool], timeout: float = 10.0
) -> dict[str, Any]:
    """The first message from the live stream that `match` accepts."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no matching live message in time")
        message: dict[str, Any] = json.loads(ws.recv(timeout=left))
        if match(message):
            return message
