"""An SMPP 3.4 ESME bound as a transceiver, on the maintained `smpplib` (PyPI): submits, and
takes receipts and replies back.

smpplib's client is a blocking socket with a `listen()` loop. Here one session at a time runs
that loop in a thread of its own: submit_sm_resp answers are handed to the waiting `send` by
sequence number, deliver_sm (receipts and replies) are recorded through the asyncio events sink
first and answered after — a receipt or reply we could not record is refused with a temporary
error, so the SMSC delivers it again. The socket's timeout doubles as the keepalive: smpplib
sends enquire_link when the line has been quiet that long. The session is opened on first use
and again after any failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import zlib
from concurrent.futures import Future
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.exceptions

from alerting.errors import SmppError, SmsError
from alerting.sms.base import DeliveryReport, Inbound, SmsEvents, Template
from alerting.sms.smstext import decode_text, parse_receipt, segments

log = logging.getLogger(__name__)

ESM_DELIVERY_RECEIPT = 0x04
# submit_sm statuses after which another try may succeed (SMPP 3.4 §5.1.3).
TRANSIENT = frozenset(
    {
        smpplib.consts.SMPP_ESME_RMSGQFUL,
        smpplib.consts.SMPP_ESME_RTHROTTLED,
        smpplib.consts.SMPP_ESME_RSYSERR,
        smpplib.consts.SMPP_ESME_RX_T_APPN,
        smpplib.consts.SMPP_ESME_RSUBMITFAIL,
    }
)
PROVIDER_DOWN = frozenset({smpplib.consts.SMPP_ESME_RTHROTTLED, smpplib.consts.SMPP_ESME_RMSGQFUL})


class _Client(smpplib.client.Client):  # type: ignore[misc]
    """smpplib's client with one lock around every write: the listen thread answers
    enquire_link and deliver_sm while a send may be writing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._write_lock = threading.Lock()

    def send_pdu(self, p: Any) -> bool:
        with self._write_lock:
            return bool(super().send_pdu(p))


class _Session:
    """One bound connection and its listen thread."""

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.pending: dict[int, Future[Any]] = {}
        self.alive = True
        self.thread = threading.Thread(target=self._listen, name="smpp-listen", daemon=True)

    def _listen(self) -> None:
        try:
            self.client.listen(auto_send_enquire_link=True)
        except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError) as exc:
            log.info("SMPP session closed: %r", exc)
        finally:
            self.alive = False
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("the SMPP session closed"))

    def answered(self, pdu: Any) -> None:
        future = self.pending.pop(int(pdu.sequence), None)
        if future is not None and not future.done():
            future.set_result(pdu)


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
        self._host, self._port = host, port
        self._credentials = {
            "system_id": system_id,
            "password": password,
            "system_type": system_type,
        }
        self._source = source_addr
        self._timeout = timeout
        self._keepalive = keepalive
        self._session: _Session | None = None
        self._events: SmsEvents | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    async def start(self, events: SmsEvents) -> None:
        self._events = events
        self._loop = asyncio.get_running_loop()
        with contextlib.suppress(SmsError):
            await asyncio.to_thread(self._bound)  # an SMSC down now is retried on the first send

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
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return await asyncio.to_thread(self._send, key, to, body)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    # ------------------------------------------------------------------ the blocking side
    def _bound(self) -> _Session:
        with self._lock:
            if self._session is not None and self._session.alive:
                return self._session
            client = _Client(
                self._host, self._port, timeout=self._timeout, allow_unknown_opt_params=True
            )
            session = _Session(client)
            client.set_message_sent_handler(session.answered)
            client.set_error_pdu_handler(session.answered)  # a refused submit_sm: its status
            client.set_message_received_handler(self._received)
            try:
                client.connect()
            except smpplib.exceptions.ConnectionError as exc:
                raise SmsError(
                    f"cannot reach the SMSC at {(self._host, self._port)}: {exc}",
                    provider_down=True,
                ) from exc
            try:
                client.bind_transceiver(**self._credentials)
            except smpplib.exceptions.PDUError as exc:
                status = int(exc.args[1]) if len(exc.args) > 1 else 0
                client.disconnect()
                raise SmsError(
                    f"SMSC refused bind_transceiver: status 0x{status:02x}", provider_down=True
                ) from exc
            except (smpplib.exceptions.ConnectionError, OSError) as exc:
                client.disconnect()
                raise SmsError(f"SMPP bind got no response: {exc!r}", provider_down=True) from exc
            # Bound: a line quiet this long gets an enquire_link from smpplib's listen loop.
            client._socket.settimeout(self._keepalive)
            session.thread.start()
            self._session = session
            return session

    def _send(self, key: str, to: str, body: str) -> str:
        reference = zlib.crc32(key.encode()) & 0xFFFF
        ids: list[str] = []
        for part in segments(body, reference=reference & 0xFF):
            resp = self._submit(
                source_addr=self._source,
                destination_addr=to.lstrip("+"),
                source_addr_ton=5 if not self._source.isdigit() else 0,
                source_addr_npi=0,
                dest_addr_ton=1 if to.startswith("+") else 0,
                dest_addr_npi=1,
                esm_class=part.esm_class,
                registered_delivery=1,
                data_coding=part.data_coding,
                short_message=part.short_message,
                user_message_reference=reference,
            )
            status = int(resp.status)
            if status != smpplib.consts.SMPP_ESME_ROK:
                raise SmsError(
                    f"SMSC refused submit_sm: status 0x{status:02x}",
                    retryable=status in TRANSIENT,
                    provider_down=status in PROVIDER_DOWN,
                )
            message_id = _text(getattr(resp, "message_id", b""))
            if not message_id:
                raise SmsError("submit_sm_resp without a message id", retryable=False)
            ids.append(message_id)
        return ids[0]

    def _submit(self, **fields: Any) -> Any:
        session = self._bound()
        future: Future[Any] = Future()
        try:
            submit = smpplib.smpp.make_pdu("submit_sm", client=session.client, **fields)
            session.pending[int(submit.sequence)] = future
            session.client.send_pdu(submit)
            return future.result(timeout=self._timeout)
        except (
            smpplib.exceptions.ConnectionError,
            smpplib.exceptions.PDUError,
            OSError,
            ConnectionError,
            TimeoutError,
        ) as exc:
            self._drop(session)
            raise SmsError(f"SMPP submit_sm got no response: {exc!r}", provider_down=True) from exc

    def _drop(self, session: _Session) -> None:
        with self._lock:
            if self._session is session:
                self._session = None
        session.alive = False
        with contextlib.suppress(Exception):
            session.client.disconnect()

    def _close(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        with contextlib.suppress(Exception):
            session.client.unbind()  # its answer ends the listen loop
        session.thread.join(2.0)
        with contextlib.suppress(Exception):
            session.client.disconnect()

    def _received(self, pdu: Any, **_: Any) -> int:
        """Runs on the listen thread: record through the event loop, then answer."""
        if pdu.command != "deliver_sm" or self._loop is None:
            return int(smpplib.consts.SMPP_ESME_ROK)
        try:
            asyncio.run_coroutine_threadsafe(self._deliver(pdu), self._loop).result(
                timeout=self._timeout
            )
        except Exception:
            log.exception("could not record a deliver_sm; asking the SMSC to retry")
            return int(smpplib.consts.SMPP_ESME_RX_T_APPN)
        return int(smpplib.consts.SMPP_ESME_ROK)

    async def _deliver(self, pdu: Any) -> None:
        if self._events is None:
            return
        raw = pdu.short_message or b""
        text = decode_text(
            raw if isinstance(raw, bytes) else raw.encode(),
            data_coding=int(pdu.data_coding or 0),
            esm_class=int(pdu.esm_class or 0),
        )
        if int(pdu.esm_class or 0) & ESM_DELIVERY_RECEIPT:
            tlv = getattr(pdu, "receipted_message_id", None)
            try:
                receipt = parse_receipt(text, _text(tlv) if tlv else None)
            except SmppError as exc:
                log.warning("ignored a malformed receipt: %s", exc)
                return
            report = DeliveryReport(
                receipt.message_id, receipt.delivered, receipt.failed, receipt.fields
            )
            await self._events.on_receipt(self.name, report)
            return
        sender = ("+" if int(pdu.source_addr_ton or 0) == 1 else "") + _text(pdu.source_addr)
        await self._events.on_inbound(
            self.name, Inbound(sender, _text(pdu.destination_addr), text, provider_id=None)
        )


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.rstrip(b"\0").decode(errors="replace")
    return "" if value is None else str(value)
