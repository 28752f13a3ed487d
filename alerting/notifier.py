"""`vigil notifier run`: the outbox worker that delivers notifications, each once.

It claims due rows, delivers each by its channel — console and grid-member pushes through the
live stream, SMS through the configured provider — and records the outcome. A failure is
retried with exponential backoff (`Backoff`, handed `now`); a provider that is down stops the
round so the remaining messages wait for it instead of burning attempts. Receipts and replies
that the provider sends back are recorded on a connection of their own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg

from alerting import outbox, webpush
from alerting.errors import SmsError
from alerting.policies import PolicyBook, default_book
from alerting.sms.base import DeliveryReport, Inbound, SmsProvider, Template
from alerting.voice import calls
from alerting.voice.base import VoiceProvider
from alerting.webhooks_out import WebhookDispatcher
from alerting.webhooks_out import next_due as webhooks_due
from alerting.wecom import WeComRobot, key_of
from vigil.backoff import Backoff
from vigil.observability import (
    NOTIFICATION_OUTBOX_PENDING,
    NOTIFICATIONS_FAILED_TOTAL,
    NOTIFICATIONS_SENT_TOTAL,
    Heartbeat,
)

log = logging.getLogger(__name__)


def notification_backoff(
    *,
    initial: float = 1.0,
    maximum: float = 30.0,
    give_up_after: float = 6 * 3600.0,
    jitter: float = 0.1,
) -> Backoff:
    """A message's retries: `initial` seconds doubling up to `maximum`, given up
    `give_up_after` seconds after its first attempt (so a provider down for a minute delays
    messages by about a minute and loses none)."""
    return Backoff(initial=initial, maximum=maximum, give_up_after=give_up_after, jitter=jitter)


PUSH_CHANNELS = frozenset({"console", "grid_member"})
POLL_S = 1.0
GAUGE_EVERY_S = 10.0


def utcnow() -> datetime:
    return datetime.now(UTC)


class Notifier:
    def __init__(
        self,
        dsn: str,
        provider: SmsProvider,
        *,
        backoff: Backoff | None = None,
        clock: Callable[[], datetime] = utcnow,
        lease: timedelta = timedelta(seconds=30),
        batch: int = 10,
        heartbeat: Heartbeat | None = None,
        voice: VoiceProvider | None = None,
        robot: WeComRobot | None = None,
        webhooks: WebhookDispatcher | None = None,
        book: PolicyBook | None = None,
        vapid: tuple[str, str] | None = None,
    ) -> None:
        """`vapid`: (private key, subject) for Web Push; None leaves webpush rows failed."""
        self._dsn = dsn
        self._vapid = vapid
        self.provider = provider
        self.voice = voice
        self.robot = robot or WeComRobot()
        self.webhooks = webhooks or WebhookDispatcher()
        self._book = book
        self._backoff = backoff or notification_backoff()
        self._clock = clock
        self._lease = lease
        self._batch = batch
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._events_conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._events_lock = asyncio.Lock()
        self._heartbeat = heartbeat
        self._gauged = 0.0

    # ------------------------------------------------------------------ events from providers
    async def on_receipt(self, provider: str, report: DeliveryReport) -> None:
        async with self._events_lock:
            await asyncio.to_thread(self._with_events_conn, outbox.record_receipt, provider, report)

    async def on_inbound(self, provider: str, message: Inbound) -> None:
        async with self._events_lock:
            outcome = await asyncio.to_thread(
                self._with_events_conn, outbox.record_inbound, provider, message
            )
        log.info("reply from %s: %s", message.sender, outcome)

    def _with_events_conn(self, fn: Callable[..., object], provider: str, item: object) -> object:
        if self._events_conn is None or self._events_conn.closed:
            self._events_conn = psycopg.connect(self._dsn, autocommit=True)
        try:
            return fn(self._events_conn, provider, item, now=self._clock())
        except psycopg.OperationalError:
            self._events_conn = None  # the next event reconnects; the provider retries this one
            raise

    # ------------------------------------------------------------------ the loop
    async def run(self, stop: asyncio.Event) -> None:
        await self.provider.start(self)
        try:
            while not stop.is_set():
                try:
                    await self._serve(stop)
                except psycopg.OperationalError as exc:
                    log.warning("database connection lost (%s); reconnecting", exc)
                    self._conn = None
                    await asyncio.sleep(1.0)
        finally:
            await self.provider.close()
            for conn in (self._conn, self._events_conn):
                if conn is not None:
                    conn.close()

    async def _serve(self, stop: asyncio.Event) -> None:
        wake = asyncio.Event()
        async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as listener:
            await listener.execute("listen vigil_outbox")

            async def listen() -> None:
                async for _ in listener.notifies():
                    wake.set()

            listening = asyncio.create_task(listen())
            try:
                while not stop.is_set():
                    wake.clear()
                    wait = await self.round()
                    if self._heartbeat is not None:
                        self._heartbeat.beat()
                    if wait > 0:
                        waiters = [asyncio.create_task(e.wait()) for e in (wake, stop)]
                        await asyncio.wait(
                            [*waiters, listening], timeout=wait, return_when=asyncio.FIRST_COMPLETED
                        )
                        for w in waiters:
                            w.cancel()
                    if listening.done():
                        listening.result()  # re-raises the listener's failure
            finally:
                listening.cancel()

    def _db(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._dsn, autocommit=True)
        return self._conn

    async def round(self) -> float:
        """Deliver what is due; returns seconds until something may be due again."""
        conn = await asyncio.to_thread(self._db)
        rows = await asyncio.to_thread(
            outbox.claim, conn, now=self._clock(), limit=self._batch, lease=self._lease
        )
        for index, row in enumerate(rows):
            if row.channel in PUSH_CHANNELS:
                await asyncio.to_thread(outbox.push, conn, row, now=self._clock())
                NOTIFICATIONS_SENT_TOTAL.labels(channel=row.channel).inc()
                continue
            if row.channel == webpush.CHANNEL:
                await asyncio.to_thread(self._webpush, conn, row)
                continue
            try:
                sent = await self._deliver(conn, row)
            except SmsError as exc:
                NOTIFICATIONS_FAILED_TOTAL.labels(channel=row.channel).inc()
                retry_at = await asyncio.to_thread(self._failed, conn, row, exc)
                # The SMS provider down holds back the round; a call or robot post only itself.
                if exc.provider_down and retry_at is not None and row.channel == "sms":
                    await asyncio.to_thread(outbox.release, conn, rows[index + 1 :], at=retry_at)
                    break
                continue
            if sent is None:
                continue
            provider_name, provider_id = sent
            await asyncio.to_thread(
                outbox.mark_sent,
                conn,
                row,
                now=self._clock(),
                provider=provider_name,
                provider_id=provider_id,
            )
            if row.channel == "voice":  # receipts quicker than our commit
                await asyncio.to_thread(
                    calls.apply_early,
                    conn,
                    self._book or default_book(),
                    provider_name,
                    provider_id,
                    now=self._clock(),
                )
        await self.webhooks.round(conn, now=self._clock(), unix_now=self._clock().timestamp())
        if len(rows) == self._batch:
            return 0.0
        await asyncio.to_thread(outbox.apply_receipts, conn, now=self._clock())
        if time.monotonic() - self._gauged > GAUGE_EVERY_S:
            for channel, n in await asyncio.to_thread(outbox.pending_by_channel, conn):
                NOTIFICATION_OUTBOX_PENDING.labels(channel=channel).set(n)
            self._gauged = time.monotonic()
        dues = [
            d
            for d in (
                await asyncio.to_thread(outbox.next_attempt_at, conn),
                await asyncio.to_thread(webhooks_due, conn),
            )
            if d is not None
        ]
        upcoming = min(dues) if dues else None
        if upcoming is None:
            return POLL_S
        return min(POLL_S, max(0.0, (upcoming - self._clock()).total_seconds()))

    async def _deliver(
        self, conn: psycopg.Connection[tuple[object, ...]], row: outbox.Claimed
    ) -> tuple[str, str] | None:
        """Hand the row to its provider: (provider, its id), or None when it was settled here
        (a call made moot)."""
        if row.channel == "voice":
            if row.incident_id is not None:
                reason = await asyncio.to_thread(calls.moot, conn, row.incident_id)
                if reason is not None:
                    await asyncio.to_thread(
                        outbox.mark_cancelled, conn, row, reason=reason, now=self._clock()
                    )
                    return None
            if self.voice is None:  # the policy asks for calls this district does not place
                await asyncio.to_thread(
                    outbox.mark_cancelled,
                    conn,
                    row,
                    reason="未配置语音外呼 / no voice provider configured (VIGIL_VOICE_PROVIDER)",
                    now=self._clock(),
                )
                return None
            call_id = await self.voice.call(key=row.key, to=row.recipient, params=row.params or {})
            return self.voice.name, call_id
        if row.channel == "wecom":
            key = await asyncio.to_thread(key_of, conn, row.recipient)
            if key is None:
                raise SmsError(
                    "网格未登记企业微信机器人 / the grid has no WeCom robot key", retryable=False
                )
            return self.robot.name, await self.robot.post(key=key, content=row.body)
        template = None
        if row.params is not None:
            template = Template(row.kind, row.language, dict(row.params))
        provider_id = await self.provider.send(
            key=row.key, to=row.recipient, body=row.body, template=template, resend=row.resend
        )
        return self.provider.name, provider_id

    def _webpush(self, conn: psycopg.Connection[tuple[object, ...]], row: outbox.Claimed) -> None:
        """One Web Push: sent, dead subscription (failed for good) or retried like an SMS."""
        if self._vapid is None:
            outbox.mark_failed(conn, row, error="web push is not configured", now=self._clock())
            return
        language = "en" if row.body.isascii() else "zh"
        data = webpush.payload(incident_id=row.incident_id, body=row.body, language=language)
        result = webpush.send(
            conn,
            recipient=row.recipient,
            data=data,
            private_key=self._vapid[0],
            subject=self._vapid[1],
        )
        if result.sent:
            NOTIFICATIONS_SENT_TOTAL.labels(channel=row.channel).inc()
            outbox.mark_sent(
                conn, row, now=self._clock(), provider="webpush", provider_id=str(result.status)
            )
            return
        NOTIFICATIONS_FAILED_TOTAL.labels(channel=row.channel).inc()
        self._failed(conn, row, SmsError(result.error or "push failed", retryable=not result.gone))

    def _failed(
        self, conn: psycopg.Connection[tuple[object, ...]], row: outbox.Claimed, exc: SmsError
    ) -> datetime | None:
        now = self._clock()
        log.warning("notification %s to %s failed: %s", row.id, row.recipient, exc)
        retry_at = None
        if exc.retryable:
            # A spread fixed per row keeps a crowd of failed messages from retrying in step.
            retry_at = self._backoff.retry_at(
                attempts=row.attempts + 1,
                first_attempt=row.first_attempt_at,
                now=now,
                spread=(row.id % 21 - 10) / 10,
            )
        if retry_at is None:
            outbox.mark_failed(conn, row, error=str(exc), now=now)
        else:
            outbox.note_retry(conn, row, error=str(exc), now=now)
            outbox.mark_retry(conn, row, error=str(exc), at=retry_at)
        return retry_at
