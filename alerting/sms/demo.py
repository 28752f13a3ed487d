"""The demo's SMS provider: messages are recorded in `sms_demo_messages` and shown in the
console instead of leaving the machine. The idempotency key is unique there, so a retry after a
crash finds the message already recorded: exactly once."""

from __future__ import annotations

import asyncio
import json

import psycopg

from alerting.sms.base import DeliveryReport, SmsEvents, Template


class DemoProvider:
    name = "demo"

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._events: SmsEvents | None = None

    async def start(self, events: SmsEvents) -> None:
        self._events = events

    async def send(
        self,
        *,
        key: str,
        to: str,
        body: str,
        template: Template | None = None,
        resend: bool = False,
    ) -> str:
        provider_id = await asyncio.to_thread(self._record, key, to, body)
        if self._events is not None:
            report = DeliveryReport(
                provider_id,
                delivered=True,
                failed=False,
                raw={"stat": "DELIVRD", "provider": "demo"},
            )
            await self._events.on_receipt(self.name, report)
        return provider_id

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _record(self, key: str, to: str, body: str) -> str:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._dsn, autocommit=True)
        with self._conn.transaction():
            row = self._conn.execute(
                "insert into sms_demo_messages (idempotency_key, recipient, body) "
                "values (%s, %s, %s) on conflict (idempotency_key) do update "
                "set idempotency_key = excluded.idempotency_key returning id",
                (key, to, body),
            ).fetchone()
            assert row is not None
            payload = json.dumps({"id": row[0], "recipient": to, "body": body})
            self._conn.execute("select pg_notify('vigil_demo_sms', %s)", (payload,))
        return f"demo-{row[0]}"
