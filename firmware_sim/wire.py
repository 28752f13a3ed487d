"""Device frames as the simulator makes them, encoded with the wire contract (vigil/frames.py).

Inside the simulator a frame is a plain tuple, cheap to make by the hundred thousand and to
sort: (ts, device index, kind, payload) where kind is REPORT (payload: metric -> value) or
EVENT (payload: (event kind, value)). Only at the socket does it become a contract `Frame`.
"""

from __future__ import annotations

from typing import Any

from vigil.codec import Encoding
from vigil.frames import Frame as WireFrame
from vigil.frames import encode_frame

REPORT = 0
EVENT = 1
Frame = tuple[float, int, int, Any]


class FrameEncoder:
    """Encodes frames for one device population; `ids` and `types` are indexed by device."""

    def __init__(
        self, ids: list[str], types: list[str], encoding: Encoding = Encoding.MSGPACK
    ) -> None:
        self.ids = ids
        self.types = types
        self.encoding = encoding

    def encode(self, frame: Frame, seq: int) -> bytes:
        ts, dev, kind, payload = frame
        if kind == REPORT:
            wire = WireFrame(dev=self.ids[dev], type=self.types[dev], seq=seq, ts=ts, r=payload)
        else:
            event, value = payload
            wire = WireFrame(
                dev=self.ids[dev], type=self.types[dev], seq=seq, ts=ts, e=event, x=value
            )
        return encode_frame(wire, self.encoding)
