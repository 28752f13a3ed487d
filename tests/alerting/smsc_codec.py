"""The loopback SMSC's own SMPP 3.4 PDU codec (the client is smpplib's: an independent
implementation on each end, so each checks the other).

bind_transceiver(_resp) (and the receiver/transmitter variants, which share the layout),
submit_sm(_resp), deliver_sm(_resp) for delivery receipts and replies, enquire_link(_resp),
unbind(_resp) and generic_nack. Pure bytes in, bytes out, tested against PDUs captured from
real SMSCs (tests/alerting/test_smpp_pdu.py), which smpplib must read the same way.
Layout (SMPP 3.4 §3.2, §4): a 16-byte big-endian header — command_length, command_id,
command_status, sequence_number — then mandatory parameters and optional TLVs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from alerting.errors import SmppError

HEADER = struct.Struct(">IIII")
MAX_PDU = 64 * 1024  # far above any PDU we exchange; a longer length is a broken stream


class Command(IntEnum):
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015


class Status(IntEnum):
    ROK = 0x00
    RINVMSGLEN = 0x01
    RINVCMDLEN = 0x02
    RINVCMDID = 0x03
    RINVBNDSTS = 0x04
    RALYBND = 0x05
    RSYSERR = 0x08
    RINVDSTADR = 0x0B
    RBINDFAIL = 0x0D
    RINVPASWD = 0x0E
    RINVSYSID = 0x0F
    RMSGQFUL = 0x14
    RTHROTTLED = 0x58
    RX_T_APPN = 0x64
    RX_P_APPN = 0x65


# Statuses after which the same submit may succeed later.
TRANSIENT = frozenset({Status.RSYSERR, Status.RMSGQFUL, Status.RTHROTTLED, Status.RX_T_APPN})


class Tag(IntEnum):
    RECEIPTED_MESSAGE_ID = 0x001E
    USER_MESSAGE_REFERENCE = 0x0204
    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    MESSAGE_PAYLOAD = 0x0424
    MESSAGE_STATE = 0x0427


ESM_DELIVERY_RECEIPT = 0x04  # esm_class bits 5-2 = 0001 on deliver_sm
ESM_UDHI = 0x40  # short_message starts with a user data header
DC_DEFAULT = 0x00
DC_UCS2 = 0x08
INTERFACE_VERSION = 0x34

Tlvs = tuple[tuple[int, bytes], ...]


@dataclass(frozen=True)
class Bind:
    system_id: str
    password: str
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@dataclass(frozen=True)
class BindResp:
    system_id: str | None
    tlvs: Tlvs = ()


@dataclass(frozen=True)
class ShortMessage:
    """The body of submit_sm and deliver_sm (§4.4.1, §4.6.1): the same layout."""

    source_addr: str
    destination_addr: str
    short_message: bytes = b""
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = DC_DEFAULT
    sm_default_msg_id: int = 0
    tlvs: Tlvs = ()

    def tlv(self, tag: int) -> bytes | None:
        for t, value in self.tlvs:
            if t == tag:
                return value
        return None


@dataclass(frozen=True)
class MessageIdResp:
    """submit_sm_resp / deliver_sm_resp: a message id, absent when the command failed."""

    message_id: str | None


Body = Bind | BindResp | ShortMessage | MessageIdResp | None


@dataclass(frozen=True)
class Pdu:
    command: Command
    sequence: int
    status: int = Status.ROK
    body: Body = field(default=None)

    @property
    def is_response(self) -> bool:
        return bool(self.command & 0x80000000)


_BINDS = {Command.BIND_RECEIVER, Command.BIND_TRANSMITTER, Command.BIND_TRANSCEIVER}
_BIND_RESPS = {c | 0x80000000 for c in _BINDS}
_SMS = {Command.SUBMIT_SM, Command.DELIVER_SM}
_SM_RESPS = {Command.SUBMIT_SM_RESP, Command.DELIVER_SM_RESP}

# C-Octet String maximum sizes, terminating NUL included (§4).
_MAX = {
    "system_id": 16,
    "password": 9,
    "system_type": 13,
    "address_range": 41,
    "service_type": 6,
    "addr": 21,
    "time": 17,
    "message_id": 65,
}


# ------------------------------------------------------------------------------------ encoding
def _cstr(value: str, limit: str) -> bytes:
    raw = value.encode("ascii")
    if b"\0" in raw or len(raw) + 1 > _MAX[limit]:
        raise SmppError(
            f"{limit} {value!r} is longer than {_MAX[limit] - 1} characters", retryable=False
        )
    return raw + b"\0"


def _tlvs(tlvs: Tlvs) -> bytes:
    return b"".join(struct.pack(">HH", tag, len(value)) + value for tag, value in tlvs)


def _encode_body(pdu: Pdu) -> bytes:
    body = pdu.body
    if isinstance(body, Bind):
        return b"".join(
            (
                _cstr(body.system_id, "system_id"),
                _cstr(body.password, "password"),
                _cstr(body.system_type, "system_type"),
                bytes((body.interface_version, body.addr_ton, body.addr_npi)),
                _cstr(body.address_range, "address_range"),
            )
        )
    if isinstance(body, BindResp):
        head = b"" if body.system_id is None else _cstr(body.system_id, "system_id")
        return head + _tlvs(body.tlvs)
    if isinstance(body, ShortMessage):
        if len(body.short_message) > 254:
            raise SmppError(
                "short_message is longer than 254 octets; use message_payload", retryable=False
            )
        return b"".join(
            (
                _cstr(body.service_type, "service_type"),
                bytes((body.source_addr_ton, body.source_addr_npi)),
                _cstr(body.source_addr, "addr"),
                bytes((body.dest_addr_ton, body.dest_addr_npi)),
                _cstr(body.destination_addr, "addr"),
                bytes((body.esm_class, body.protocol_id, body.priority_flag)),
                _cstr(body.schedule_delivery_time, "time"),
                _cstr(body.validity_period, "time"),
                bytes(
                    (
                        body.registered_delivery,
                        body.replace_if_present_flag,
                        body.data_coding,
                        body.sm_default_msg_id,
                        len(body.short_message),
                    )
                ),
                body.short_message,
                _tlvs(body.tlvs),
            )
        )
    if isinstance(body, MessageIdResp):
        return b"" if body.message_id is None else _cstr(body.message_id, "message_id")
    return b""


def encode(pdu: Pdu) -> bytes:
    """The PDU's bytes, header included."""
    body = _encode_body(pdu)
    return HEADER.pack(HEADER.size + len(body), pdu.command, pdu.status, pdu.sequence) + body


# ------------------------------------------------------------------------------------ decoding
class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def byte(self) -> int:
        if self.left < 1:
            raise SmppError("PDU ends inside a mandatory parameter")
        self.pos += 1
        return self.data[self.pos - 1]

    def octets(self, n: int) -> bytes:
        if self.left < n:
            raise SmppError(f"PDU ends inside a {n}-octet field")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def cstr(self, limit: str) -> str:
        end = self.data.find(b"\0", self.pos, self.pos + _MAX[limit])
        if end < 0:
            raise SmppError(f"{limit}: no terminating NUL within {_MAX[limit]} octets")
        raw = self.data[self.pos : end]
        self.pos = end + 1
        return raw.decode("ascii", errors="replace")

    def tlvs(self) -> Tlvs:
        found = []
        while self.left:
            if self.left < 4:
                raise SmppError("a TLV header is cut short")
            tag, length = struct.unpack_from(">HH", self.data, self.pos)
            self.pos += 4
            found.append((tag, self.octets(length)))
        return tuple(found)


def _decode_body(command: Command, status: int, r: _Reader) -> Body:
    if command in _BINDS:
        return Bind(
            system_id=r.cstr("system_id"),
            password=r.cstr("password"),
            system_type=r.cstr("system_type"),
            interface_version=r.byte(),
            addr_ton=r.byte(),
            addr_npi=r.byte(),
            address_range=r.cstr("address_range"),
        )
    if command in _BIND_RESPS:
        system_id = r.cstr("system_id") if r.left else None
        return BindResp(system_id, r.tlvs())
    if command in _SMS:
        service_type = r.cstr("service_type")
        src_ton, src_npi = r.byte(), r.byte()
        source = r.cstr("addr")
        dst_ton, dst_npi = r.byte(), r.byte()
        destination = r.cstr("addr")
        esm, pid, prio = r.byte(), r.byte(), r.byte()
        schedule, validity = r.cstr("time"), r.cstr("time")
        registered, replace, coding, default_id, length = (r.byte() for _ in range(5))
        text = r.octets(length)
        return ShortMessage(
            source_addr=source,
            destination_addr=destination,
            short_message=text,
            service_type=service_type,
            source_addr_ton=src_ton,
            source_addr_npi=src_npi,
            dest_addr_ton=dst_ton,
            dest_addr_npi=dst_npi,
            esm_class=esm,
            protocol_id=pid,
            priority_flag=prio,
            schedule_delivery_time=schedule,
            validity_period=validity,
            registered_delivery=registered,
            replace_if_present_flag=replace,
            data_coding=coding,
            sm_default_msg_id=default_id,
            tlvs=r.tlvs(),
        )
    if command in _SM_RESPS:
        return MessageIdResp(r.cstr("message_id") if r.left else None)
    if r.left and status == Status.ROK:
        raise SmppError(f"{command.name} carries an unexpected body of {r.left} octets")
    return None


def frame_length(head: bytes) -> int:
    """The command_length of a PDU from its first four octets, checked for sanity."""
    length = int.from_bytes(head[:4], "big")
    if not HEADER.size <= length <= MAX_PDU:
        raise SmppError(f"command_length {length} is out of range; the stream is broken")
    return length


def decode(data: bytes) -> Pdu:
    """One whole PDU; raises SmppError for anything malformed or unknown."""
    if len(data) < HEADER.size:
        raise SmppError(f"a PDU needs at least {HEADER.size} octets, got {len(data)}")
    length, command_id, status, sequence = HEADER.unpack_from(data)
    if length != len(data):
        raise SmppError(f"command_length says {length} octets, got {len(data)}")
    try:
        command = Command(command_id)
    except ValueError:
        raise SmppError(f"unsupported command_id 0x{command_id:08x}") from None
    reader = _Reader(data[HEADER.size :])
    body = _decode_body(command, status, reader)
    if reader.left:
        raise SmppError(f"{command.name}: {reader.left} octets left over")
    return Pdu(command, sequence, status, body)


def response_to(request: Pdu, status: int = Status.ROK, body: Body = None) -> Pdu:
    """The response PDU answering `request` (same sequence number)."""
    return Pdu(Command(request.command | 0x80000000), request.sequence, status, body)
