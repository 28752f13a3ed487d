"""The live stream: every committed incident change pushed to the console as it happens.

One `LiveHub` per app LISTENs on `vigil_incident` (and device health, push notifications and
the demo SMS log), reads the changed incident once, and fans the JSON out to every subscriber's
queue. A WebSocket (`/api/live`) and a server-sent-events stream (`/api/live/sse`) serve the
same messages; each starts with a snapshot of the open incidents, taken after subscribing so
no change falls between the two. A subscriber that cannot keep up is cut off (its client
reconnects and gets a fresh snapshot) rather than slowing the others down.

Messages: {"type": "snapshot", "incidents": [...]}, {"type": "incident", "incident": {...},
"last": <latest timeline entry>}, {"type": "device_health", "payload": ...},
{"type": "notification", ...}, {"type": "demo_sms", ...}, {"type": "presence", "payload":
{"incident_id", "user_id", "display_name", "activity"}}; each with "sent_at" (epoch s).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from psycopg.rows import dict_row

from alerting.store import INCIDENT_COLUMNS, OPEN_SQL, IncidentRow
from console.live_scope import (
    DISTRICT,
    INCIDENT_GRID_SQL,
    SNAPSHOT_GRID_SQL,
    Audience,
    LiveScope,
    scope_of,
)
from vigil.observability import observe_hop

log = logging.getLogger(__name__)

CHANNELS = (
    "vigil_incident",
    "vigil_device_health",
    "vigil_notification",
    "vigil_demo_sms",
    "vigil_presence",
)
QUEUE_LIMIT = 1000
SSE_KEEPALIVE_S = 15.0


@dataclass(frozen=True)
class Message:
    text: str
    audience: Audience = DISTRICT  # who may see it (console/live_scope.py)
    incident_id: int | None = None
    hops: tuple[tuple[str, float], ...] = ()


@dataclass(eq=False)
class Subscriber:
    scope: LiveScope
    queue: asyncio.Queue[Message | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))

    def wants(self, message: Message) -> bool:
        return self.scope.wants(message.audience)


class LiveHub:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._subscribers: set[Subscriber] = set()
        self._query: psycopg.AsyncConnection[dict[str, Any]] | None = None
        self._pushed: dict[int, float] = {}
        self.ready = asyncio.Event()

    # -------------------------------------------------------------------------- subscribers
    def subscribe(self, scope: LiveScope) -> Subscriber:
        sub = Subscriber(scope)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    def pushed(self, message: Message) -> None:
        """Note when an incident change first left on the stream (its `pushed` hop)."""
        if message.incident_id is None or message.incident_id in self._pushed:
            return
        now = time.time()
        self._pushed[message.incident_id] = now
        hops = dict(message.hops)
        if "pushed" not in hops and "committed" in hops:
            observe_hop("incident_to_console", now - hops["committed"])
            if "device" in hops:
                observe_hop("end_to_end", now - hops["device"])

    def _fan_out(self, message: Message) -> None:
        for sub in list(self._subscribers):
            if not sub.wants(message):
                continue
            try:
                sub.queue.put_nowait(message)
            except asyncio.QueueFull:
                log.warning(
                    "a live subscriber fell %d messages behind; cutting it off", QUEUE_LIMIT
                )
                self._subscribers.discard(sub)
                with contextlib.suppress(asyncio.QueueFull):
                    sub.queue.get_nowait()
                    sub.queue.put_nowait(None)

    # -------------------------------------------------------------------------- database
    async def _db(self) -> psycopg.AsyncConnection[dict[str, Any]]:
        if self._query is None or self._query.closed:
            self._query = await psycopg.AsyncConnection.connect(
                self._dsn, autocommit=True, row_factory=dict_row
            )
        return self._query

    async def snapshot(self, scope: LiveScope) -> str:
        sql = f"select {INCIDENT_COLUMNS} from incidents where {OPEN_SQL}"  # noqa: S608
        params: tuple[Any, ...] = ()
        if scope.grid is not None:
            sql += SNAPSHOT_GRID_SQL
            params = (scope.grid,)
        conn = await self._db()
        rows = await (
            await conn.execute(sql + " order by severity desc, opened_at", params)
        ).fetchall()
        incidents = [IncidentRow.from_db(r).to_json() for r in rows]
        return json.dumps({"type": "snapshot", "incidents": incidents, "sent_at": time.time()})

    async def _incident_message(self, incident_id: int) -> Message | None:
        conn = await self._db()
        cur = await conn.execute(
            f"select {INCIDENT_COLUMNS} from incidents where id = %s",  # noqa: S608
            (incident_id,),
        )
        row = await cur.fetchone()
        if row is None:
            return None
        cur = await conn.execute(
            "select id, at, actor, action, from_state, to_state, note from incident_timeline "
            "where incident_id = %s order by at desc, id desc limit 1",
            (incident_id,),
        )
        last = await cur.fetchone()
        if last is not None:
            last = {**last, "at": last["at"].isoformat()}
        incident = IncidentRow.from_db(row)
        grid = await (await conn.execute(INCIDENT_GRID_SQL, (incident_id,))).fetchone()
        text = json.dumps(
            {
                "type": "incident",
                "incident": incident.to_json(),
                "last": last,
                "sent_at": time.time(),
            }
        )
        audience = Audience(grid_id=grid["grid_id"] if grid else None)
        return Message(text, audience, incident.id, tuple(incident.hops.items()))

    async def _flush_pushed(self) -> None:
        if not self._pushed:
            return
        batch, self._pushed = self._pushed, {}
        conn = await self._db()
        async with conn.cursor() as cur:
            await cur.executemany(
                "update incidents set hops = hops || jsonb_build_object('pushed', %s::float8) "
                "where id = %s and not hops ? 'pushed'",
                [(t, i) for i, t in batch.items()],
            )

    # -------------------------------------------------------------------------- the loop
    async def run(self) -> None:
        """LISTEN and fan out until cancelled, reconnecting after a lost connection."""
        flusher = asyncio.create_task(self._flush_forever())
        try:
            while True:
                try:
                    await self._listen()
                except psycopg.OperationalError as exc:
                    log.warning("live stream lost the database (%s); reconnecting", exc)
                    self.ready.clear()
                    self._query = None
                    await asyncio.sleep(1.0)
        finally:
            flusher.cancel()
            if self._query is not None:
                await self._query.close()

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            try:
                await self._flush_pushed()
            except psycopg.Error as exc:
                log.warning("could not record pushed times: %s", exc)

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as conn:
            for channel in CHANNELS:
                await conn.execute(f"listen {channel}")
            await self._db()
            self.ready.set()
            async for note in conn.notifies():
                message = await self._message(note.channel, note.payload)
                if message is not None:
                    self._fan_out(message)

    async def _message(self, channel: str, payload: str) -> Message | None:
        if channel == "vigil_incident":
            try:
                return await self._incident_message(int(payload))
            except ValueError:
                log.warning("ignored vigil_incident payload %r", payload[:50])
                return None
        if channel == "vigil_presence":
            return _presence_message(payload)
        kind = {
            "vigil_device_health": "device_health",
            "vigil_notification": "notification",
            "vigil_demo_sms": "demo_sms",
        }[channel]
        try:
            body: Any = json.loads(payload) if payload else None
        except json.JSONDecodeError:
            body = payload
        text = json.dumps({"type": kind, "payload": body, "sent_at": time.time()})
        if kind == "notification" and isinstance(body, dict):
            return Message(text, await self._notification_audience(body))
        return Message(text)  # device health and the demo SMS log: the district's staff only

    async def _notification_audience(self, body: dict[str, Any]) -> Audience:
        """A notification is for its addressee, else for its incident's grid."""
        user_id = body.get("user_id")
        if isinstance(user_id, int):
            return Audience(user_id=user_id)
        incident_id = body.get("incident_id")
        if not isinstance(incident_id, int):
            return DISTRICT
        conn = await self._db()
        row = await (await conn.execute(INCIDENT_GRID_SQL, (incident_id,))).fetchone()
        grid = row["grid_id"] if row else None
        return Audience(grid_id=grid) if grid else DISTRICT


def _presence_message(payload: str) -> Message | None:
    """Who opened or acts on an incident (console/api/routes/seats.py), for that grid's seats."""
    try:
        body = json.loads(payload)
        int(body["incident_id"])
    except (ValueError, KeyError, TypeError):
        log.warning("ignored vigil_presence payload %r", payload[:80])
        return None
    text = json.dumps({"type": "presence", "payload": body, "sent_at": time.time()})
    return Message(text, body.get("grid_id"), None)


# ------------------------------------------------------------------------------ the endpoints
router = APIRouter(tags=["live"])


def _hub(app_state: Any) -> LiveHub:
    hub: LiveHub = app_state.live_hub
    return hub


@router.websocket("/api/live")
async def live_websocket(websocket: WebSocket, grid_id: str | None = None) -> None:
    """Every incident change as JSON, after a snapshot of the open incidents."""
    hub = _hub(websocket.app.state)
    scope = scope_of(websocket)
    await websocket.accept()
    sub = hub.subscribe(scope)
    # Watching the client's side too is how a closed connection is noticed while idle.
    closed = asyncio.create_task(_until_closed(websocket))
    try:
        await websocket.send_text(await hub.snapshot(scope))
        while True:
            getter = asyncio.create_task(sub.queue.get())
            await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                return
            message = getter.result()
            if message is None:
                await websocket.close(code=1013, reason="too slow; reconnect")
                return
            await websocket.send_text(message.text)
            hub.pushed(message)
    except WebSocketDisconnect:
        pass
    finally:
        closed.cancel()
        hub.unsubscribe(sub)


async def _until_closed(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass


@router.get("/api/live/sse")
async def live_sse(request: Request, grid_id: str | None = None) -> StreamingResponse:
    """The same stream as server-sent events, for clients without WebSocket."""
    hub = _hub(request.app.state)
    scope = scope_of(request)
    sub = hub.subscribe(scope)

    async def events() -> AsyncIterator[str]:
        try:
            yield f"event: snapshot\ndata: {await hub.snapshot(scope)}\n\n"
            while not await request.is_disconnected():
                try:
                    message = await asyncio.wait_for(sub.queue.get(), SSE_KEEPALIVE_S)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if message is None:
                    return
                yield f"data: {message.text}\n\n"
                hub.pushed(message)
        finally:
            hub.unsubscribe(sub)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
