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
from alerting.sms import pdu
from alerting.sms.base import DeliveryReport, Inbound, SmsEvents, Template
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
        self._bind = pdu.Bind(system_id, password, system_type)
        self._source = source_addr
        self._timeout = timeout
        self._keepalive = keepalive
        self._seq = itertools.count(1)
        self._pending: dict[int, asyncio.Future[pdu.Pdu]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._events: SmsEvents | None = None
        self._lock = asyncio.Lock()

    async def start(self, events: SmsEvents) -> None:
        self._events = events
        with contextlib.suppress(SmsError):
            await self._session()  # an SMSC that is down now is retried on the first send

    async def send(
        self,
        *,
        key: str,
        to: str,
        body: str,
        template: Template | None = None,
        resend: bool = False,
    ) -> str:
        """Submit the text (several segments if long); returns the first segment's id."""
        reference = zlib.crc32(key.encode()) & 0xFFFF
        ids: list[str] = []
        for part in segments(body, reference=reference & 0xFF):
            sm = pdu.ShortMessage(
                source_addr=self._source,
                destination_addr=to.lstrip("+"),
                source_addr_ton=5 if not self._source.isdigit() else 0,
                dest_addr_ton=1 if to.startswith("+") else 0,
                dest_addr_npi=1,
                esm_class=part.esm_class,
                registered_delivery=1,
                data_coding=part.data_coding,
                short_message=part.short_message,
                tlvs=((pdu.Tag.USER_MESSAGE_REFERENCE, reference.to_bytes(2, "big")),),
            )
            resp = await self._request(pdu.Command.SUBMIT_SM, sm)
            if resp.status != pdu.Status.ROK:
                raise SmsError(
                    f"SMSC refused submit_sm: status 0x{resp.status:02x}",
                    retryable=resp.status in pdu.TRANSIENT,
                    provider_down=resp.status in (pdu.Status.RTHROTTLED, pdu.Status.RMSGQFUL),
                )
            if not isinstance(resp.body, pdu.MessageIdResp) or not resp.body.message_id:
                raise SmsError("submit_sm_resp without a message id", retryable=False)
            ids.append(resp.body.message_id)
        return ids[0]

    async def close(self) -> None:
        writer = self._writer
        if writer is not None and not writer.is_closing():
            with contextlib.suppress(SmsError, OSError, TimeoutError):
                await asyncio.wait_for(self._request(pdu.Command.UNBIND, None), 1.0)
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
                raise SmsError(
                    f"cannot reach the SMSC at {self._addr}: {exc}", provider_down=True
                ) from exc
            self._writer = writer
            self._tasks = [
                asyncio.create_task(self._read(reader, writer)),
                asyncio.create_task(self._ping(writer)),
            ]
            resp = await self._call(writer, pdu.Command.BIND_TRANSCEIVER, self._bind)
            if resp.status != pdu.Status.ROK:
                self._drop("bind refused")
                raise SmsError(
                    f"SMSC refused bind_transceiver: status 0x{resp.status:02x}",
                    provider_down=True,
                )
            return writer

    async def _request(self, command: pdu.Command, body: pdu.Body) -> pdu.Pdu:
        writer = await self._session()
        return await self._call(writer, command, body)

    async def _call(
        self, writer: asyncio.StreamWriter, command: pdu.Command, body: pdu.Body
    ) -> pdu.Pdu:
        seq = next(self._seq) & 0x7FFFFFFF or 1
        future: asyncio.Future[pdu.Pdu] = asyncio.get_running_loop().create_future()
        self._pending[seq] = future
        try:
            writer.write(pdu.encode(pdu.Pdu(command, seq, pdu.Status.ROK, body)))
            await writer.drain()
            return await asyncio.wait_for(future, self._timeout)
        except (OSError, TimeoutError, ConnectionError) as exc:
            self._drop(f"{command.name} failed: {exc!r}")
            raise SmsError(
                f"SMPP {command.name} got no response: {exc!r}", provider_down=True
            ) from exc
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
                await self._call(writer, pdu.Command.ENQUIRE_LINK, None)

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readexactly(4)
                rest = await reader.readexactly(pdu.frame_length(head) - 4)
                await self._handle(pdu.decode(head + rest), writer)
        except (asyncio.IncompleteReadError, ConnectionError, OSError, SmppError) as exc:
            if writer is self._writer:
                self._drop(f"read: {exc!r}")

    async def _handle(self, frame: pdu.Pdu, writer: asyncio.StreamWriter) -> None:
        if frame.is_response:
            future = self._pending.get(frame.sequence)
            if future is not None and not future.done():
                future.set_result(frame)
            return
        if frame.command == pdu.Command.ENQUIRE_LINK:
            writer.write(pdu.encode(pdu.response_to(frame)))
        elif frame.command == pdu.Command.UNBIND:
            writer.write(pdu.encode(pdu.response_to(frame)))
            await writer.drain()
            self._drop("SMSC unbound")
        elif frame.command == pdu.Command.DELIVER_SM and isinstance(frame.body, pdu.ShortMessage):
            # Recorded first, answered after: a receipt or reply we could not record is refused
            # with a temporary error, and the SMSC delivers it again later.
            status = pdu.Status.ROK
            try:
                await self._deliver(frame.body)
            except Exception:
                log.exception("could not record a deliver_sm; asking the SMSC to retry")
                status = pdu.Status.RX_T_APPN
            resp = pdu.response_to(frame, status, pdu.MessageIdResp(""))
            writer.write(pdu.encode(resp))
            await writer.drain()
        else:
            writer.write(
                pdu.encode(pdu.Pdu(pdu.Command.GENERIC_NACK, frame.sequence, pdu.Status.RINVCMDID))
            )

    async def _deliver(self, sm: pdu.ShortMessage) -> None:
        if self._events is None:
            return
        text = decode_text(sm.short_message, data_coding=sm.data_coding, esm_class=sm.esm_class)
        if sm.esm_class & pdu.ESM_DELIVERY_RECEIPT:
            tlv = sm.tlv(pdu.Tag.RECEIPTED_MESSAGE_ID)
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
