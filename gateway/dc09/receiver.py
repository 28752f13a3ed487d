"""The DC-09 receiver: panels' messages in over TCP and UDP, Vigil events out through a sink.

The ACK goes only after the sink says the events are durably accepted (the broker acknowledged
them at QoS 1): a panel that gets no ACK sends the message again, and the repeat is answered
from the record of messages taken in (gateway/dc09/seen.py), never raised twice. Every refused
frame gets its answer (NAK: send again, with the receiver's time; DUH: not understood) and is
counted; nothing a panel sends stops the receiver.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gateway.bridge import Reading
from gateway.dc09 import frame as f
from gateway.dc09.accounts import Account, AccountBook
from gateway.dc09.codes import map_event
from gateway.dc09.seen import KEEP_S, SeenStore, message_key
from gateway.dc09.supervision import Change, Supervision
from vigil.codec import Event

log = logging.getLogger(__name__)

AVAILABILITY = "availability"
LIFE_EVERY_S = 30.0  # signs of life per account at most this often (polls may come each second)


class Sink(Protocol):
    """Where events go (gateway.bridge.Bridge): `emit` returns a future that completes once they
    are durably accepted; `read` takes telemetry (here: signs of life)."""

    def emit(self, events: list[Event]) -> concurrent.futures.Future[Any]: ...

    def read(self, readings: list[Reading]) -> None: ...

    def count_rejected(self, n: int = 1) -> None: ...


@dataclass(frozen=True)
class ReceiverConfig:
    state_path: Path
    accept_timeout_s: float = 15.0  # panels wait ~20-30 s for an answer before repeating
    idle_timeout_s: float = 300.0  # a TCP connection silent this long is closed
    tick_s: float = 1.0


class Receiver:
    def __init__(
        self,
        config: ReceiverConfig,
        accounts: AccountBook,
        sink: Sink,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.accounts = accounts
        self.sink = sink
        self.clock = clock
        self.seen = SeenStore(config.state_path)
        self.supervision = Supervision()
        self.counts: Counter[str] = Counter()
        self._pending: dict[str, asyncio.Future[None]] = {}
        self._life_sent: dict[str, float] = {}
        self._servers: list[asyncio.Server] = []
        self._transports: list[asyncio.DatagramTransport] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.supervision.configure(accounts.intervals(), clock())
        self.supervision.mark_down(self.seen.links_down())

    # ---- one frame in, its answer out ---------------------------------------------------
    async def answer(self, raw: bytes) -> bytes | None:
        """The answer to one frame; None when the event could not be accepted in time (the
        panel repeats it)."""
        now = self.clock()
        read = self._read(raw, now)
        if isinstance(read, bytes):
            return read
        message, account = read
        self._heard(account, now)
        if message.is_null:
            self.counts["polls"] += 1
            return f.ack(message.header, message.account, now, account.key)
        try:
            accepted = await self._take(message, account, now)
        except Exception:
            log.exception("account %s seq %s: not accepted", message.account,
                          message.header.seq)  # fmt: skip
            accepted = False
        if not accepted:
            self.counts["unanswered"] += 1
            return None
        return f.ack(message.header, message.account, self.clock(), account.key)

    def _read(self, raw: bytes, now: float) -> tuple[f.Message, Account] | bytes:
        """The message and its account, or the refusal to send back."""
        try:
            message = f.decode(raw, self.accounts.lookup, now)
        except f.FrameError as exc:
            return self._refuse(exc, raw, now)
        except Exception:  # a reader's bug must cost one frame, not the connection
            log.exception("frame not understood: %r", raw[:80])
            return self._refuse(f.FrameError(f.Answer.DUH, "not understood"), raw, now)
        account = self.accounts.get(message.account)
        if account is None:  # removed by a reload between the two look-ups
            why = f.FrameError(f.Answer.DUH, "account not registered", message.header)
            return self._refuse(why, raw, now)
        if not message.is_null and not message.events:
            why = f.FrameError(f.Answer.DUH, f"no event in data {message.data!r}", message.header)
            return self._refuse(why, raw, now)
        return message, account

    def _refuse(self, exc: f.FrameError, raw: bytes, now: float) -> bytes:
        self.counts[exc.answer.value.lower()] += 1
        self.sink.count_rejected()  # the gateway's status shows refused frames to installers
        log.warning("%s: %s (%r)", exc.answer.value, exc.reason, raw[:80])
        return f.nak(now) if exc.answer is f.Answer.NAK else f.duh(exc.header)

    async def _take(self, message: f.Message, account: Account, now: float) -> bool:
        h = message.header
        key = message_key(message.account, h.seq, h.token, message.data, message.xdata)
        pending = self._pending.get(key)
        if pending is not None:  # the same message again while the first is on its way
            self.counts["repeats"] += 1
            return await self._wait(asyncio.shield(pending))
        seen = self.seen.get(key)
        if seen is not None and seen.done:
            self.counts["repeats"] += 1
            return True
        if seen is None:
            ts = message.timestamp if message.timestamp is not None else now
            seen = self.seen.record(key, account.device_id, len(message.events), ts, now)
        events = self._events(message, account, seen.first_seq, seen.ts, now)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[key] = done
        try:
            # Shielded: a timeout here must not cancel the sink's future (it still completes,
            # and the record then knows the message was accepted).
            accepted = asyncio.wrap_future(self.sink.emit(events))
            accepted.add_done_callback(lambda fut: self._accepted_late(fut, key))
            await asyncio.wait_for(asyncio.shield(accepted), self.config.accept_timeout_s)
        except BaseException as exc:
            self._pending.pop(key, None)
            if not done.done():
                done.set_exception(exc if isinstance(exc, Exception) else RuntimeError("stop"))
                done.exception()  # retrieved: waiters see it through shield
            if isinstance(exc, TimeoutError):
                log.warning("account %s seq %s: not accepted in %.1f s; the panel will repeat",
                            message.account, h.seq, self.config.accept_timeout_s)  # fmt: skip
                return False
            raise
        self.seen.done(key)
        self._pending.pop(key, None)
        done.set_result(None)
        self.counts["events"] += len(events)
        self.counts["messages"] += 1
        return True

    def _accepted_late(self, future: asyncio.Future[Any], key: str) -> None:
        """The sink accepted the message after all (a repeat is then answered at once)."""
        if not future.cancelled() and future.exception() is None:
            self.seen.done(key)

    async def _wait(self, future: asyncio.Future[None]) -> bool:
        try:
            await asyncio.wait_for(future, self.config.accept_timeout_s)
        except Exception:
            return False
        return True

    def _events(
        self, message: f.Message, account: Account, first_seq: int, ts: float, now: float
    ) -> list[Event]:
        out = []
        for i, panel_event in enumerate(message.events):
            mapped = map_event(panel_event, message.account)
            detail = mapped.detail
            room = account.room(panel_event.zone)
            if room is not None:
                detail["room"] = room
            resident = account.resident(panel_event.user or panel_event.zone)
            if resident is not None and (panel_event.user or mapped.kind == "presence"):
                detail["resident"] = resident
            detail["seq"] = message.header.seq
            if message.header.line is not None:
                detail["line"] = message.header.line
            if message.header.receiver is not None:
                detail["receiver"] = message.header.receiver
            detail.update({f"x{k}": v for k, v in message.xdata.items()})
            out.append(Event(dev=account.device_id, seq=first_seq + i, ts=ts, rx=now,
                             kind=mapped.kind, value=mapped.value, detail=detail))  # fmt: skip
        return out

    # ---- supervision --------------------------------------------------------------------
    def _heard(self, account: Account, now: float) -> None:
        """Every valid message is a sign of life: for the receiver's own supervision, and as an
        `availability` 1.0 reading for the core's per-device supervision (polls carry no event,
        and without it a quiet panel would look silent to ingest)."""
        change = self.supervision.heard(account.account, now)
        if change is not None:
            self._availability(change, now)
        last = self._life_sent.get(account.account)
        every = LIFE_EVERY_S if account.poll_s is None else min(LIFE_EVERY_S, account.poll_s / 2)
        if last is None or now - last >= every:
            self._life_sent[account.account] = now
            self.sink.read([Reading(account.device_id, AVAILABILITY, 1.0, now, rx=now)])

    def _availability(self, change: Change, now: float) -> None:
        account = self.accounts.get(change.account)
        if account is None:
            return
        seq = self.seen.next_seq(account.device_id)
        reason = "polling resumed" if change.up else "link down: missed poll"
        detail = {"source": "dc09", "account": account.account, "poll_s": change.poll_s,
                  "last_heard": change.last, "reason": reason}  # fmt: skip
        event = Event(dev=account.device_id, seq=seq, ts=now, rx=now, kind=AVAILABILITY,
                      value=1.0 if change.up else 0.0, detail=detail)  # fmt: skip
        self.counts["link_up" if change.up else "link_down"] += 1
        log.warning("account %s: %s", account.account, detail["reason"])
        self.seen.set_down(account.account, not change.up, now)
        future = self.sink.emit([event])
        future.add_done_callback(_log_failure)

    def tick(self) -> None:
        now = self.clock()
        for change in self.supervision.due(now):
            self._availability(change, now)

    def reload(self, accounts: dict[str, Account]) -> None:
        self.accounts.replace(accounts)
        self.supervision.configure(self.accounts.intervals(), self.clock())

    async def _ticker(self) -> None:
        last_cleanup = 0.0
        while True:
            self.tick()
            now = self.clock()
            if now - last_cleanup > 3600:
                self.seen.forget_before(now - KEEP_S)
                last_cleanup = now
            await asyncio.sleep(self.config.tick_s)

    # ---- transports ---------------------------------------------------------------------
    async def start(self, host: str, tcp_port: int | None, udp_port: int | None) -> None:
        loop = asyncio.get_running_loop()
        if tcp_port is not None:
            self._servers.append(await asyncio.start_server(self._connection, host, tcp_port))
        if udp_port is not None:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self), local_addr=(host, udp_port)
            )
            self._transports.append(transport)
        self._spawn(self._ticker())

    def ports(self) -> tuple[int | None, int | None]:
        """The TCP and UDP ports bound (after `start` with port 0)."""
        tcp = self._servers[0].sockets[0].getsockname()[1] if self._servers else None
        udp = self._transports[0].get_extra_info("sockname")[1] if self._transports else None
        return tcp, udp

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        self.counts["connections"] += 1
        buffer = bytearray()
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(reader.read(4096), self.config.idle_timeout_s)
                except TimeoutError:
                    break
                if not chunk:
                    break
                buffer += chunk
                try:
                    frames = f.split_stream(buffer)
                except f.FrameError as exc:
                    writer.write(self._refuse(exc, bytes(buffer[:80]), self.clock()))
                    frames = []
                for raw in frames:
                    reply = await self.answer(raw)
                    if reply is not None:
                        writer.write(reply)
                await writer.drain()
        except (ConnectionError, OSError) as exc:
            log.info("connection from %s ended: %s", peer, exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for transport in self._transports:
            transport.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)
        self.seen.close()


class _Datagrams(asyncio.DatagramProtocol):
    """One frame per datagram; each answered to its sender."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.receiver.counts["datagrams"] += 1
        self.receiver._spawn(self._answer(data, addr))

    async def _answer(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        buffer = bytearray(data if data.endswith(b"\r") else data + b"\r")
        try:
            frames = f.split_stream(buffer)
        except f.FrameError as exc:
            frames, reply = [], self.receiver._refuse(exc, data[:80], self.receiver.clock())
            if self.transport is not None:
                self.transport.sendto(reply, addr)
        for raw in frames:
            answer = await self.receiver.answer(raw)
            if answer is not None and self.transport is not None:
                self.transport.sendto(answer, addr)


def _log_failure(future: concurrent.futures.Future[Any]) -> None:
    exc = future.exception()
    if exc is not None:
        log.error("availability event not accepted: %s", exc)
