"""Test frames: pysiaalarm's recorded ones, and frames made by the independent encoder siadc09."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from gateway.dc09 import frame as f

HERE = Path(__file__).parent
PYSIAALARM_KEY = b"AAAAAAAAAAAAAAAA"  # pysiaalarm's accounts take the key's characters as bytes


def recorded() -> dict[str, bytes]:
    frames = {}
    for line in (HERE / "recorded_frames.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, raw = line.split("|", 1)
            frames[name] = raw.encode()
    return frames


def reframed(raw: bytes) -> bytes:
    """The recorded body with its CRC and length computed again (many were edited by hand in
    the tracker, which left the header's CRC or length stale)."""
    return f.frame_of(raw[8:])[1:-1]


def recorded_time(raw: bytes) -> float | None:
    text = raw.decode()
    if "]_" not in text:
        return None
    return f.parse_time(text.rsplit("_", 1)[1])


def siadc09_frame(
    token: str,
    data: bytes,
    *,
    account: str = "1234",
    seq: int = 1,
    key: bytes | None = None,
    receiver: int | None = None,
    line: int | None = None,
    when: datetime | None = None,
    xdata: tuple[bytes, ...] = (),
) -> bytes:
    """A frame made by siadc09 (DC-09-2026 encoder, Unlicense), stripped of LF and CR."""
    logging.getLogger("siadc09").setLevel(logging.WARNING)
    from siadc09.account import Account
    from siadc09.admcid import parse_admcid
    from siadc09.message import EventMessage, NullMessage
    from siadc09.siadcs import parse_siadcs
    from siadc09.xdata import parse_xdata

    acct = Account(acct=int(account, 16), pref=line, rcvr=receiver, key=key)
    stamp = (when or datetime.now(UTC)).replace(microsecond=0)
    if token == "NULL":
        message = NullMessage(acct, stamp, key is not None, seq)
    else:
        parse = parse_admcid if token == "ADM-CID" else parse_siadcs
        message = EventMessage(
            acct,
            config={
                "idtoken": token,
                "seqno": seq,
                "data": parse(data),
                "timestamp": stamp,
                "xdata": [parse_xdata(x) for x in xdata],
            },
        )
    raw: bytes = message.encode(encrypt=key is not None)
    return raw[1:-1]
