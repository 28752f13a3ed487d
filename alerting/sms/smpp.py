"""An SMPP 3.4 ESME bound as a transceiver: submits, and takes receipts and replies back.

One session at a time, opened on first use and again after any failure. Requests are matched
to responses by sequence number; an enquire_link every `keepalive` seconds notices a dead link
before a message has to. Receipts and mobile-originated replies arrive as deliver_sm on the same
session and are answered at once, then handed to the events sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import zlib

from alerting.errors import SmppError, SmsError
from alerting.sms import pdu as P
from alerting.sms.base import DeliveryReport, Inbound, SmsEvents
from alerting.sms.smstext import decode_text, parse_receipt, segments

log = logging.getLogger(__name__)


class SmppProvider:
    name = "smpp"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        system_id: str,
        password: str,
        system_type: str = "",
        source_addr: str,
        timeout: float = 5.0,
        keepalive: float = 30.0,
    ) -> None:
        self._addr = (host, port)
        self._bind = P.Bind(system_id, password, system_type)
        self._source = source_addr
        self._timeout = timeout
        self._keepalive = keepalive
        self._seq = itertools.count(1)
        self._pending: dict[int, asyncio.Future[P.Pdu]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._events: SmsEvents | None = None
        self._lock = asyncio.Lock()

    async def start(self, events: SmsEvents) -> None:
        self._events = events
        with contextlib.suppress(SmsError):
            await self._session()  # an SMSC that is down now is retried on the first send

    async def send(self, *, key: str, to: str, body: str) -> str:
        """Submit the text (several segments if long); returns the first segment's id."""
        reference = zlib.crc32(key.encode()) & 0xFFFF
        ids: list[str] = []
        for part in segments(body, reference=reference & 0xFF):
            sm = P.ShortMessage(
                source_addr=self._source,
                destination_addr=to.lstrip("+"),
                source_addr_ton=5 if not self._source.isdigit() else 0,
                dest_addr_ton=1 if to.startswith("+") else 0,
                dest_addr_npi=1,
                esm_class=part.esm_class,
                registered_delivery=1,
                data_coding=part.data_coding,
                short_message=part.short_message,
                tlvs=((P.Tag.USER_MESSAGE_REFERENCE, reference.to_bytes(2, "big")),),
            )
            resp = await self._request(P.Command.SUBMIT_SM, sm)
            if resp.status != P.Status.ROK:
                retry = resp.status in P.TRANSIENT
                raise SmsError(f"SMSC refused submit_sm: status 0x{resp.status:02x}",
                               retryable=retry)
            if not isinstance(resp.body, P.MessageIdResp) or not resp.body.message_id:
                raise SmsError("submit_sm_resp without a message id", retryable=False)
            ids.append(resp.body.message_id)
        return ids[0]

    async def close(self) -> None:
        writer = self._writer
        if writer is not None and not writer.is_closing():
            with contextlib.suppress(SmsError, OSError, TimeoutError):
                await asyncio.wait_for(self._request(P.Command.UNBIND, None), 1.0)
        self._drop("closed")

    # -------------------------------------------------------------------------- session
    async def _session(self) -> asyncio.StreamWriter:
        async with self._lock:
            if self._writer is not None and not self._writer.is_closing():
                return self._writer
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(*self._addr), self._timeout
                )
            except (OSError, TimeoutError) as exc:
                raise SmsError(f"cannot reach the SMSC at {self._addr}: {exc}") from exc
            self._writer = writer
            self._tasks = [
                asyncio.create_task(self._read(reader, writer)),
                asyncio.create_task(self._ping(writer)),
            ]
            resp = await self._call(writer, P.Command.BIND_TRANSCEIVER, self._bind)
            if resp.status != P.Status.ROK:
                self._drop("bind refused")
                raise SmsError(f"SMSC refused bind_transceiver: status 0x{resp.status:02x}")
            return writer

    async def _request(self, command: P.Command, body: P.Body) -> P.Pdu:
        writer = await self._session()
        return await self._call(writer, command, body)

    async def _call(self, writer: asyncio.StreamWriter, command: P.Command, body: P.Body) -> P.Pdu:
        seq = next(self._seq) & 0x7FFFFFFF or 1
        future: asyncio.Future[P.Pdu] = asyncio.get_running_loop().create_future()
        self._pending[seq] = future
        try:
            writer.write(P.encode(P.Pdu(command, seq, P.Status.ROK, body)))
            await writer.drain()
            return await asyncio.wait_for(future, self._timeout)
        except (OSError, TimeoutError, ConnectionError) as exc:
            self._drop(f"{command.name} failed: {exc!r}")
            raise SmsError(f"SMPP {command.name} got no response: {exc!r}") from exc
        finally:
            self._pending.pop(seq, None)

    def _drop(self, why: str) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            log.info("SMPP session closed: %s", why)
            writer.close()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError(why))
        self._pending.clear()

    async def _ping(self, writer: asyncio.StreamWriter) -> None:
        while not writer.is_closing():
            await asyncio.sleep(self._keepalive)
            with contextlib.suppress(SmsError):
                await self._call(writer, P.Command.ENQUIRE_LINK, None)

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readexactly(4)
                rest = await reader.readexactly(P.frame_length(head) - 4)
                await self._handle(P.decode(head + rest), writer)
        except (asyncio.IncompleteReadError, ConnectionError, OSError, SmppError) as exc:
            if writer is self._writer:
                self._drop(f"read: {exc!r}")

    async def _handle(self, pdu: P.Pdu, writer: asyncio.StreamWriter) -> None:
        if pdu.is_response:
            future = self._pending.get(pdu.sequence)
            if future is not None and not future.done():
                future.set_result(pdu)
            return
        if pdu.command == P.Command.ENQUIRE_LINK:
            writer.write(P.encode(P.response_to(pdu)))
        elif pdu.command == P.Command.UNBIND:
            writer.write(P.encode(P.response_to(pdu)))
            await writer.drain()
            self._drop("SMSC unbound")
        elif pdu.command == P.Command.DELIVER_SM and isinstance(pdu.body, P.ShortMessage):
            writer.write(P.encode(P.response_to(pdu, body=P.MessageIdResp(""))))
            await writer.drain()
            await self._deliver(pdu.body)
        else:
            writer.write(P.encode(P.Pdu(P.Command.GENERIC_NACK, pdu.sequence, P.Status.RINVCMDID)))

    async def _deliver(self, sm: P.ShortMessage) -> None:
        if self._events is None:
            return
        text = decode_text(sm.short_message, data_coding=sm.data_coding, esm_class=sm.esm_class)
        if sm.esm_class & P.ESM_DELIVERY_RECEIPT:
            tlv = sm.tlv(P.Tag.RECEIPTED_MESSAGE_ID)
            try:
                receipt = parse_receipt(text, tlv.rstrip(b"\0").decode() if tlv else None)
            except SmppError as exc:
                log.warning("ignored a malformed receipt: %s", exc)
                return
            report = DeliveryReport(
                receipt.message_id, receipt.delivered, receipt.failed, receipt.fields
            )
            await self._events.on_receipt(self.name, report)
            return
        sender = ("+" if sm.source_addr_ton == 1 else "") + sm.source_addr
        await self._events.on_inbound(
            self.name, Inbound(sender, sm.destination_addr, text, provider_id=None)
        )
