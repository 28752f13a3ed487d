"""A loopback SMSC that speaks SMPP 3.4, for tests: it binds transceivers, accepts submit_sm,
sends delivery receipts and mobile-originated replies, and can be told to be down for a while.

It runs its own asyncio loop in a thread, so synchronous tests and other processes (a notifier
started as a subprocess) talk to it over real TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from alerting.sms.smstext import coding_for, decode_text, receipt_text
from tests.alerting import smsc_codec as pdu


@dataclass(frozen=True)
class Received:
    message_id: str
    system_id: str
    source: str
    destination: str
    text: str
    user_reference: int | None
    segment: tuple[int, int] | None  # (seq, total) of a concatenated message


class FakeSmsc:
    def __init__(self, *, system_id: str = "vigil", password: str = "secret") -> None:
        self.credentials = (system_id, password)
        self.messages: list[Received] = []
        self.responses: list[tuple[int, int]] = []  # (command, status) of the ESME's responses
        self.port = 0
        self._ids = itertools.count(0x1000)
        self._seq = itertools.count(1)
        self._down_until = 0.0
        self._sessions: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.receipts = True

    # ---------------------------------------------------------------- control (any thread)
    def start(self) -> FakeSmsc:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(5)
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            for writer in list(self._sessions):
                writer.close()
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def fail_for(self, seconds: float) -> None:
        """Be down: drop every session now and refuse new ones until `seconds` have passed."""
        self._down_until = time.monotonic() + seconds

        async def drop() -> None:
            for writer in list(self._sessions):
                writer.close()

        asyncio.run_coroutine_threadsafe(drop(), self._loop).result(5)

    @property
    def bound(self) -> int:
        """How many sessions are bound now."""
        return len(self._sessions)

    @property
    def down(self) -> bool:
        return time.monotonic() < self._down_until

    def send_mo(self, sender: str, text: str, *, to: str = "10690000") -> None:
        """A phone's reply, delivered to every bound session."""
        sm = pdu.ShortMessage(
            source_addr=sender.lstrip("+"),
            source_addr_ton=1 if sender.startswith("+") else 0,
            destination_addr=to,
            data_coding=coding_for(text),
            short_message=text.encode("ascii" if text.isascii() else "utf-16-be"),
        )
        asyncio.run_coroutine_threadsafe(self._broadcast(sm), self._loop).result(5)

    def texts_to(self, destination: str) -> list[str]:
        """Whole texts sent to a number, concatenated segments joined."""
        texts: list[str] = []
        for m in self.messages:
            if m.destination != destination.lstrip("+"):
                continue
            if m.segment is None or m.segment[0] == 1:
                texts.append(m.text)
            else:
                texts[-1] += m.text
        return texts

    def whole_messages(self) -> list[Received]:
        """One entry per message: a concatenated message counts once (its first segment)."""
        return [m for m in self.messages if m.segment is None or m.segment[0] == 1]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.messages)

    # ---------------------------------------------------------------- the SMSC (its loop)
    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _broadcast(self, sm: pdu.ShortMessage) -> None:
        for writer in list(self._sessions):
            writer.write(pdu.encode(pdu.Pdu(pdu.Command.DELIVER_SM, next(self._seq), body=sm)))
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.close()
            return
        bound_as: str | None = None
        try:
            while True:
                head = await reader.readexactly(4)
                rest = await reader.readexactly(pdu.frame_length(head) - 4)
                frame = pdu.decode(head + rest)
                if self.down:
                    break
                if frame.is_response:
                    self.responses.append((frame.command, frame.status))
                    continue
                if frame.command == pdu.Command.BIND_TRANSCEIVER and isinstance(
                    frame.body, pdu.Bind
                ):
                    ok = (frame.body.system_id, frame.body.password) == self.credentials
                    status = pdu.Status.ROK if ok else pdu.Status.RINVPASWD
                    writer.write(
                        pdu.encode(pdu.response_to(frame, status, pdu.BindResp("FakeSMSC")))
                    )
                    if ok:
                        bound_as = frame.body.system_id
                        self._sessions.add(writer)
                elif bound_as is None:
                    writer.write(pdu.encode(pdu.response_to(frame, pdu.Status.RINVBNDSTS)))
                elif frame.command == pdu.Command.SUBMIT_SM and isinstance(
                    frame.body, pdu.ShortMessage
                ):
                    message_id = f"{next(self._ids):x}"
                    self.messages.append(self._received(message_id, bound_as, frame.body))
                    writer.write(
                        pdu.encode(pdu.response_to(frame, body=pdu.MessageIdResp(message_id)))
                    )
                    if frame.body.registered_delivery & 1 and self.receipts:
                        asyncio.get_running_loop().call_later(
                            0.05, self._receipt, writer, message_id, frame.body
                        )
                elif frame.command == pdu.Command.ENQUIRE_LINK:
                    writer.write(pdu.encode(pdu.response_to(frame)))
                elif frame.command == pdu.Command.UNBIND:
                    writer.write(pdu.encode(pdu.response_to(frame)))
                    await writer.drain()
                    break
                else:
                    writer.write(
                        pdu.encode(
                            pdu.Pdu(pdu.Command.GENERIC_NACK, frame.sequence, pdu.Status.RINVCMDID)
                        )
                    )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._sessions.discard(writer)
            writer.close()

    @staticmethod
    def _received(message_id: str, system_id: str, sm: pdu.ShortMessage) -> Received:
        ref = sm.tlv(pdu.Tag.USER_MESSAGE_REFERENCE)
        segment = None
        if sm.esm_class & pdu.ESM_UDHI:
            segment = (sm.short_message[5], sm.short_message[4])
        return Received(
            message_id,
            system_id,
            sm.source_addr,
            sm.destination_addr,
            decode_text(sm.short_message, data_coding=sm.data_coding, esm_class=sm.esm_class),
            int.from_bytes(ref, "big") if ref else None,
            segment,
        )

    def _receipt(self, writer: asyncio.StreamWriter, message_id: str, sm: pdu.ShortMessage) -> None:
        if writer.is_closing():
            return
        stamp = time.strftime("%y%m%d%H%M")
        text = receipt_text(message_id, "DELIVRD", submit=stamp, done=stamp)
        receipt = pdu.ShortMessage(
            source_addr=sm.destination_addr,
            destination_addr=sm.source_addr,
            esm_class=pdu.ESM_DELIVERY_RECEIPT,
            short_message=text.encode("ascii"),
            tlvs=(
                (pdu.Tag.RECEIPTED_MESSAGE_ID, message_id.encode() + b"\0"),
                (pdu.Tag.MESSAGE_STATE, b"\x02"),
            ),
        )
        writer.write(pdu.encode(pdu.Pdu(pdu.Command.DELIVER_SM, next(self._seq), body=receipt)))


@pytest.fixture
def smsc() -> Iterator[FakeSmsc]:
    server = FakeSmsc().start()
    yield server
    server.stop()
