"""The demo's voice provider: the call is shown in the console like a demo SMS, and a moment
later the family "presses 1" — the same receipts a real call produces go through the same code
(`calls.record`), so `make demo` shows SMS, call, key press and acknowledgement in order."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from datetime import UTC, datetime

import psycopg

from alerting.policies import PolicyBook
from alerting.voice import calls

log = logging.getLogger(__name__)


class DemoVoiceProvider:
    name = "demo_voice"

    def __init__(self, dsn: str, book: PolicyBook, *, answer_after_s: float = 3.0) -> None:
        self._dsn = dsn
        self._book = book
        self._answer_after = answer_after_s
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    async def call(self, *, key: str, to: str, params: dict[str, str]) -> str:
        call_id = f"demo-call-{datetime.now(UTC):%H%M%S}-{next(self._ids)}"
        spoken = f"📞 {to}：您的家人{params.get('name', '')}家中{params.get('what', '')}，请按1确认"
        await asyncio.to_thread(self._show, to, spoken)
        task = asyncio.create_task(self._answer(call_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return call_id

    def _show(self, to: str, text: str) -> None:
        payload = json.dumps({"id": 0, "recipient": to, "body": text})
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            conn.execute("select pg_notify('vigil_demo_sms', %s)", (payload,))

    async def _answer(self, call_id: str) -> None:
        await asyncio.sleep(self._answer_after)
        for event in (
            calls.VoiceEvent(call_id, "300000", "1", {"demo": True}),
            calls.VoiceEvent(call_id, "200000", None, {"demo": True}),
        ):
            try:
                await asyncio.to_thread(self._record, event)
            except psycopg.Error as exc:  # the demo's own stand-in: log, never crash the loop
                log.warning("demo call receipt not recorded: %s", exc)

    def _record(self, event: calls.VoiceEvent) -> None:
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            calls.record(conn, self._book, self.name, event, now=datetime.now(UTC))
