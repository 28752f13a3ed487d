"""SIA DC-09 frames: checking and reading a panel's message, and writing the receiver's answer.

A frame is `LF crc(4 hex) length(4 hex) "ID"seq[Rrcvr]Lline#acct[data][x…]_timestamp CR`. The
CRC (CRC-16/ARC) and the length cover the bytes from the first quote up to the CR. With a `*`
before the ID the part after `[` is hex of AES-CBC ciphertext (IV zero, key per account) whose
cleartext is random pad, `|`, the data, `]`, extended data and the timestamp.

Written here rather than taken from a library (the reasons are in docs/dc09.md): the readers on
PyPI either change the account number (siadc09 reads it as a number, so `#0123` comes back as
`#123` in the ACK), ignore the length field and answer with `None` in the ACK (pysiaalarm), or
speak only one vendor's dialect (osbornehoffman). Those packages are used in the tests as
independent senders instead. Pure: no I/O, the clock comes in as `now`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

LF, CR = 0x0A, 0x0D
MAX_FRAME_BYTES = 2048  # far above any real message; a stream that says more is garbage
AHEAD_S = 20.0  # DC-09 5.5.1.9: a receiver refuses messages stamped more than 20 s ahead
BEHIND_S = 40.0  # ... or more than 40 s behind its own clock
KEY_BYTES = (16, 24, 32)  # AES-128/192/256
_IV = bytes(16)
_TIME_FORMAT = "%H:%M:%S,%m-%d-%Y"
_PAD_EXCLUDED = frozenset(b"[]|")

_HEADER = re.compile(
    rb'"(?P<enc>\*?)(?P<id>[A-Z0-9-]{2,12})"'
    rb"(?P<seq>[0-9]{4})"
    rb"(?:R(?P<rcv>[0-9A-Fa-f]{1,6}))?"
    rb"(?:L(?P<line>[0-9A-Fa-f]{1,6}))?"
    rb"(?:#(?P<acct>[0-9A-Fa-f]{3,16}))?"
    rb"\["
)
_TIMESTAMP = re.compile(r"_(\d\d:\d\d:\d\d,\d\d-\d\d-\d{4})")
_XDATA = re.compile(r"\[([A-Za-z$][^\[\]]*)\]")
_DATA_ACCOUNT = re.compile(r"#([0-9A-Fa-f]{3,16})\|?")
_CID = re.compile(
    r"(?P<q>[136])(?P<code>[0-9]{3}) (?P<group>[0-9A-Fa-f]{2}) (?P<zone>[0-9A-Fa-f]{3})"
)
_SIA_FIELD = re.compile(r"(ti)(\d{1,2}:\d{2}(?::\d{2})?)|(id|ri|pi)(\d+)")
_SIA_EVENT = re.compile(r"([A-Z]{2})(\d*)(?:\^([^^]*)\^?)?")


class Token(StrEnum):
    SIA_DCS = "SIA-DCS"
    ADM_CID = "ADM-CID"
    NULL = "NULL"


class Answer(StrEnum):
    ACK = "ACK"
    NAK = "NAK"
    DUH = "DUH"


class FrameError(ValueError):
    """A frame the receiver refuses; `answer` is what the panel gets (NAK: send again, the
    clock or the line was at fault; DUH: not understood, sending it again will not help)."""

    def __init__(self, answer: Answer, reason: str, header: Header | None = None) -> None:
        super().__init__(reason)
        self.answer = answer
        self.reason = reason
        self.header = header


@dataclass(frozen=True)
class Header:
    """What identifies a message and its answer: the account's line of a receiver."""

    token: str
    encrypted: bool
    seq: str
    receiver: str | None
    line: str | None
    account: str | None


@dataclass(frozen=True)
class PanelEvent:
    """One event a panel reports: a Contact ID or SIA code with where and who."""

    protocol: str  # "cid" or "sia"
    code: str  # "110" (Contact ID event) or "FA" (SIA event code)
    qualifier: str | None = None  # Contact ID: 1 new, 3 restore, 6 status
    zone: str | None = None  # Contact ID zone or user number; SIA address
    area: str | None = None  # Contact ID group/partition; SIA `ri`
    user: str | None = None  # SIA `id`
    text: str | None = None  # SIA `^text^`


@dataclass(frozen=True)
class Message:
    header: Header
    account: str  # upper-case hex digits, leading zeros kept
    data: str  # the data field as sent (decrypted), for the record
    events: tuple[PanelEvent, ...]
    xdata: dict[str, str] = field(default_factory=dict)
    timestamp: float | None = None  # seconds since the epoch, from the panel's clock

    @property
    def is_null(self) -> bool:
        return self.header.token == Token.NULL


# ---- CRC, keys, AES ------------------------------------------------------------------------
def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/ARC (polynomial 0x8005 reflected, initial 0), as DC-09 specifies."""
    crc = 0
    for b in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ b) & 0xFF]
    return crc


def parse_key(text: str, fmt: str) -> bytes:
    """An AES key as configured: `hex` (the key's bytes as hex text) or `raw` (the characters are
    the key's bytes, as some panels take it). Explicit, because a 32-character key reads either
    way: as hex it is AES-128, as raw bytes AES-256."""
    if fmt == "hex":
        try:
            key = bytes.fromhex(text.strip())
        except ValueError:
            raise ValueError("the key is not hex text (0-9, a-f)") from None
    elif fmt == "raw":
        key = text.encode("latin-1", errors="strict")
    else:
        raise ValueError(f"key format must be hex or raw, not {fmt!r}")
    if len(key) not in KEY_BYTES:
        raise ValueError(
            f"an AES key is 16, 24 or 32 bytes (128/192/256 bit); this one is {len(key)} bytes"
        )
    return key


def _aes(key: bytes) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(key), modes.CBC(_IV))


def decrypt(key: bytes, ciphertext: bytes) -> bytes:
    d = _aes(key).decryptor()
    return d.update(ciphertext) + d.finalize()


def encrypt(key: bytes, cleartext: bytes) -> bytes:
    e = _aes(key).encryptor()
    return e.update(cleartext) + e.finalize()


def pad_for(length: int) -> bytes:
    """Random pad so that pad + `length` bytes fill whole AES blocks (at least 16 bytes):
    printable characters other than `[`, `]` and `|`, as DC-09 asks."""
    size = 16 + (-length) % 16
    return secrets.token_bytes(size).translate(_PAD_TABLE)


_PAD_CHARS = bytes(b for b in range(0x21, 0x7F) if b not in _PAD_EXCLUDED)
_PAD_TABLE = bytes(_PAD_CHARS[i % len(_PAD_CHARS)] for i in range(256))


# ---- time ----------------------------------------------------------------------------------
def format_time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime(_TIME_FORMAT)


def parse_time(text: str) -> float:
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC).timestamp()


def check_window(ts: float, now: float) -> str | None:
    """Why a message stamped `ts` falls outside the receiver's window, or None."""
    if ts - now > AHEAD_S:
        return f"timestamp {ts - now:.0f} s ahead of the receiver (limit {AHEAD_S:.0f} s)"
    if now - ts > BEHIND_S:
        return f"timestamp {now - ts:.0f} s behind the receiver (limit {BEHIND_S:.0f} s)"
    return None


# ---- reading a frame ----------------------------------------------------------------------
def split_stream(buffer: bytearray) -> list[bytes]:
    """Complete frames (without LF/CR) taken off the front of a TCP stream buffer; what follows
    the last CR stays. Raises FrameError when the buffer holds too much without a CR."""
    frames: list[bytes] = []
    while True:
        end = buffer.find(b"\r")
        if end < 0:
            if len(buffer) > MAX_FRAME_BYTES:
                buffer.clear()
                raise FrameError(Answer.DUH, f"no end of frame (CR) in {MAX_FRAME_BYTES} bytes")
            return frames
        raw = bytes(buffer[:end])
        del buffer[: end + 1]
        start = raw.rfind(b"\n")
        frame = raw[start + 1 :] if start >= 0 else raw.lstrip(b"\x00 \t")
        if frame:
            frames.append(frame)


def header_of(frame: bytes) -> Header | None:
    """The header, when it can be read at all (to address an answer to a refused frame)."""
    m = _HEADER.match(frame, 8)
    if m is None:
        return None
    return _header(m)


def _header(m: re.Match[bytes]) -> Header:
    def text(name: str) -> str | None:
        value = m.group(name)
        return None if value is None else value.decode("ascii").upper()

    return Header(
        token=m.group("id").decode("ascii"),
        encrypted=m.group("enc") == b"*",
        seq=m.group("seq").decode("ascii"),
        receiver=text("rcv"),
        line=text("line"),
        account=text("acct"),
    )


def check_frame(frame: bytes) -> Header:
    """CRC and length first (a damaged frame gets NAK so the panel sends it again), then the
    header (one the receiver cannot read gets DUH)."""
    if len(frame) < 10 or frame[8:9] != b'"':
        raise FrameError(Answer.NAK, "not a DC-09 frame: no CRC and length before the ID")
    try:
        sent_crc = int(frame[0:4], 16)
        sent_len = int(frame[4:8], 16)
    except ValueError:
        raise FrameError(Answer.NAK, "CRC or length is not hex") from None
    body = frame[8:]
    header = header_of(frame)
    if crc16(body) != sent_crc:
        raise FrameError(Answer.NAK, f"CRC {crc16(body):04X} computed, {sent_crc:04X} sent", header)
    if len(body) != sent_len:
        raise FrameError(Answer.NAK, f"length {len(body):04X} counted, {sent_len:04X} sent", header)
    if header is None:
        raise FrameError(Answer.DUH, "header not understood (ID, sequence, line, account)")
    if header.token not in {t.value for t in Token}:
        raise FrameError(Answer.DUH, f"message type {header.token!r} not supported", header)
    if not 0 <= int(header.seq) <= 9999:
        raise FrameError(Answer.DUH, f"sequence {header.seq} out of range", header)
    return header


def open_body(frame: bytes, header: Header, key: bytes | None) -> str:
    """The text after `[`: as sent, or decrypted with the account's key, pad taken off."""
    start = frame.index(b"[", 9) + 1
    rest = frame[start:]
    if not header.encrypted:
        try:
            return rest.decode("ascii")
        except UnicodeDecodeError:
            raise FrameError(Answer.DUH, "data is not ASCII", header) from None
    if key is None:
        raise FrameError(Answer.DUH, "encrypted, but the account has no key", header)
    try:
        ciphertext = bytes.fromhex(rest.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise FrameError(Answer.DUH, "encrypted part is not hex", header) from None
    if not ciphertext or len(ciphertext) % 16:
        raise FrameError(Answer.DUH, "encrypted part is not whole AES blocks", header)
    clear = decrypt(key, ciphertext)
    bar, close = clear.find(b"|"), clear.find(b"]")
    if close < 0:
        raise FrameError(Answer.DUH, "cannot decrypt: wrong key?", header)
    begin = bar + 1 if 0 <= bar < close else close  # a NULL message may carry no `|`
    try:
        return clear[begin:].decode("ascii")
    except UnicodeDecodeError:
        raise FrameError(Answer.DUH, "cannot decrypt: wrong key?", header) from None


def read_body(body: str, header: Header) -> tuple[str, dict[str, str], float | None]:
    """Data, extended data and timestamp of a message body (`data]…[x…]_time`)."""
    close = _data_end(body)
    if close < 0:
        raise FrameError(Answer.DUH, "no end of the data field (])", header)
    data, rest = body[:close], body[close + 1 :]
    xdata: dict[str, str] = {}
    pos = 0
    while pos < len(rest) and rest[pos] == "[":
        m = _XDATA.match(rest, pos)
        if m is None:
            raise FrameError(Answer.DUH, f"extended data not understood: {rest[pos:][:40]!r}",
                             header)  # fmt: skip
        value = m.group(1)
        xdata[value[0]] = value[1:]
        pos = m.end()
    tail = rest[pos:]
    if not tail:
        return data, xdata, None
    m = _TIMESTAMP.fullmatch(tail)
    if m is None:
        raise FrameError(Answer.DUH, f"not a timestamp: {tail[:40]!r}", header)
    try:
        return data, xdata, parse_time(m.group(1))
    except ValueError:
        raise FrameError(Answer.DUH, f"not a valid date: {m.group(1)!r}", header) from None


def _data_end(body: str) -> int:
    """Index of the `]` closing the data field; `^text^` may hold any character."""
    inside = False
    for i, ch in enumerate(body):
        if ch == "^":
            inside = not inside
        elif ch == "]" and not inside:
            return i
    return body.find("]")


def parse_data(token: str, data: str) -> tuple[str | None, tuple[PanelEvent, ...]]:
    """The account repeated in the data (`#acct|`), and the events of an ADM-CID or SIA-DCS
    data field. An empty tuple means the data held no event this reader knows how to read."""
    account = None
    m = _DATA_ACCOUNT.match(data)
    if m is not None:
        account = m.group(1).upper()
        data = data[m.end() :]
    data = data.removeprefix("|")
    if token == Token.ADM_CID:
        cid = _CID.search(data)
        if cid is None:
            return account, ()
        return account, (
            PanelEvent(
                "cid",
                cid.group("code"),
                qualifier=cid.group("q"),
                zone=cid.group("zone"),
                area=cid.group("group"),
            ),
        )
    if token == Token.SIA_DCS:
        return account, tuple(_sia_events(data))
    return account, ()


def _sia_events(data: str) -> list[PanelEvent]:
    """SIA DC-03 blocks: `N` then `ri`/`id`/`ti` fields and event codes, `/` between them,
    e.g. `Nri1/FA001/FA002`, `Nri0KR1^TAST. 001 ^`, `Nti12:34/id5/ri1/CL501`."""
    events: list[PanelEvent] = []
    for block in data.split("|"):
        text = block[1:] if block[:1] in ("N", "O") else block
        area = user = None
        for part in text.split("/"):
            pos = 0
            while (f := _SIA_FIELD.match(part, pos)) is not None:
                name, value = (f.group(1), f.group(2)) if f.group(1) else (f.group(3), f.group(4))
                if name == "ri":
                    area = value
                elif name == "id":
                    user = value
                pos = f.end()
            e = _SIA_EVENT.match(part, pos)
            if e is None:
                continue
            events.append(
                PanelEvent(
                    "sia",
                    e.group(1),
                    zone=e.group(2) or None,
                    area=area,
                    user=user,
                    text=(e.group(3) or "").strip() or None,
                )
            )
    return events


# ---- answers -------------------------------------------------------------------------------
def frame_of(body: bytes) -> bytes:
    return b"\n%04X%04X%s\r" % (crc16(body), len(body), body)


def _route(header: Header | None) -> bytes:
    if header is None:
        return b"L0#0"
    rcv = b"" if header.receiver is None else b"R" + header.receiver.encode()
    line = b"L" + (header.line or "0").encode()
    acct = b"" if header.account is None else b"#" + header.account.encode()
    return rcv + line + acct


def ack(header: Header, account: str, now: float, key: bytes | None) -> bytes:
    """ACK with the message's sequence, receiver, line and account as sent; encrypted (with the
    receiver's time inside) when the message was."""
    route = _route(Header(header.token, header.encrypted, header.seq, header.receiver,
                          header.line, account))  # fmt: skip
    if header.encrypted and key is not None:
        clear = b"]_" + format_time(now).encode()
        hexed = encrypt(key, pad_for(len(clear)) + clear).hex().upper().encode()
        return frame_of(b'"*ACK"' + header.seq.encode() + route + b"[" + hexed)
    return frame_of(b'"ACK"' + header.seq.encode() + route + b"[]")


def nak(now: float) -> bytes:
    """NAK carries the receiver's time (never encrypted), so the panel can set its clock."""
    return frame_of(b'"NAK"0000R0L0A0[]_' + format_time(now).encode())


def duh(header: Header | None) -> bytes:
    seq = b"0000" if header is None else header.seq.encode()
    return frame_of(b'"DUH"' + seq + _route(header) + b"[]")


# ---- the whole message ---------------------------------------------------------------------
KeyLookup = Callable[[str], "tuple[bool, bytes | None]"]


def decode(frame: bytes, lookup: KeyLookup, now: float) -> Message:
    """A checked message, or FrameError with the answer it gets. `lookup(account)` says whether
    the account is registered and gives its key (None: it sends in the clear)."""
    header = check_frame(frame)
    account = header.account
    known, key = lookup(account) if account is not None else (False, None)
    if account is not None and not known:
        raise FrameError(Answer.DUH, f"account {account} is not registered", header)
    if header.encrypted and account is None:
        raise FrameError(Answer.DUH, "encrypted message without an account", header)
    if not header.encrypted and key is not None:
        raise FrameError(Answer.DUH, f"account {account} must encrypt, but sent in the clear",
                         header)  # fmt: skip
    body = open_body(frame, header, key)
    data, xdata, ts = read_body(body, header)
    if header.encrypted and ts is None:
        raise FrameError(Answer.NAK, "encrypted message without a timestamp", header)
    if ts is not None and (late := check_window(ts, now)) is not None:
        raise FrameError(Answer.NAK, late, header)
    in_data, events = parse_data(header.token, data)
    if account is None:
        account = in_data
        if account is None:
            raise FrameError(Answer.DUH, "no account in the header or the data", header)
        known, key = lookup(account)
        if not known:
            raise FrameError(Answer.DUH, f"account {account} is not registered", header)
        if key is not None:
            raise FrameError(Answer.DUH, f"account {account} must encrypt", header)
    return Message(header, account, data, events, xdata, ts)
