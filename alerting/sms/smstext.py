"""Text of short messages: encoding, splitting long ones with a UDH, and delivery receipts.

ASCII text goes as data_coding 0 (the SMSC's default alphabet; 160 octets, 153 per segment);
anything else — Chinese above all — as UCS-2 (data_coding 8; 70 characters, 67 per segment).
A long message is cut into segments that each start with a concatenation UDH (IEI 0x00: ref,
total, seq) and carry esm_class UDHI, which every handset reassembles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from alerting.errors import SmppError

# SMPP 3.4 §5.2.12, §5.2.19: the data codings and the esm_class flag that texts need.
DC_DEFAULT = 0x00  # the SMSC's default alphabet (GSM 03.38 / ASCII)
DC_UCS2 = 0x08  # UCS-2: Chinese
ESM_UDHI = 0x40  # short_message starts with a user data header

MAX_OCTETS = 140  # one SMS's user data, in octets
_SINGLE = {DC_DEFAULT: 160, DC_UCS2: 140}
_UDH_LEN = 6


@dataclass(frozen=True)
class Segment:
    esm_class: int
    data_coding: int
    short_message: bytes


def coding_for(text: str) -> int:
    return DC_DEFAULT if text.isascii() else DC_UCS2


def _encode(text: str, coding: int) -> bytes:
    return text.encode("ascii") if coding == DC_DEFAULT else text.encode("utf-16-be")


def segments(text: str, *, reference: int) -> list[Segment]:
    """The text as one SMS, or as concatenated segments sharing `reference` (0..255)."""
    if not text:
        raise SmppError("an SMS needs text", retryable=False)
    coding = coding_for(text)
    whole = _encode(text, coding)
    if len(whole) <= _SINGLE[coding]:
        return [Segment(0, coding, whole)]
    room = 153 if coding == DC_DEFAULT else MAX_OCTETS - _UDH_LEN
    parts = _cut(whole, room, coding)
    if len(parts) > 255:
        raise SmppError("text too long for one concatenated SMS", retryable=False)
    return [
        Segment(
            ESM_UDHI,
            coding,
            bytes((5, 0x00, 3, reference & 0xFF, len(parts), i + 1)) + part,
        )
        for i, part in enumerate(parts)
    ]


def _cut(data: bytes, room: int, coding: int) -> list[bytes]:
    if coding == DC_DEFAULT:
        return [data[i : i + room] for i in range(0, len(data), room)]
    room -= room % 2
    parts = []
    start = 0
    while start < len(data):
        end = min(start + room, len(data))
        # Never split a UTF-16 surrogate pair (emoji, rare CJK) across two segments.
        if end < len(data) and 0xD8 <= data[end - 2] <= 0xDB:
            end -= 2
        parts.append(data[start:end])
        start = end
    return parts


def decode_text(short_message: bytes, *, data_coding: int, esm_class: int) -> str:
    """The text of a received message, its UDH (if any) removed."""
    data = short_message
    if esm_class & ESM_UDHI and data:
        data = data[1 + data[0] :]
    if data_coding == DC_UCS2:
        return data.decode("utf-16-be", errors="replace")
    if data_coding == 0x03:
        return data.decode("latin-1")
    return data.decode("ascii", errors="replace")


_RECEIPT_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err):(\S*)", re.I)
FINAL_DELIVERED = "DELIVRD"
FAILED_STATES = frozenset({"EXPIRED", "DELETED", "UNDELIV", "REJECTD", "UNKNOWN"})


@dataclass(frozen=True)
class Receipt:
    message_id: str
    stat: str
    err: str
    fields: dict[str, str]

    @property
    def delivered(self) -> bool:
        return self.stat.upper() == FINAL_DELIVERED

    @property
    def failed(self) -> bool:
        return self.stat.upper() in FAILED_STATES


def parse_receipt(text: str, receipted_id: str | None = None) -> Receipt:
    """A delivery receipt's fields (SMPP 3.4 Appendix B format); the TLV id wins if given."""
    fields = {k.lower(): v for k, v in _RECEIPT_FIELD.findall(text)}
    message_id = receipted_id or fields.get("id")
    if not message_id or "stat" not in fields:
        raise SmppError(f"not a delivery receipt: {text[:80]!r}")
    return Receipt(message_id, fields["stat"], fields.get("err", ""), fields)


def receipt_text(message_id: str, stat: str, *, submit: str, done: str, err: str = "000") -> str:
    """A delivery receipt in Appendix B's format, as an SMSC writes it."""
    dlvrd = "001" if stat == FINAL_DELIVERED else "000"
    return (
        f"id:{message_id} sub:001 dlvrd:{dlvrd} submit date:{submit} done date:{done} "
        f"stat:{stat} err:{err} text:"
    )
