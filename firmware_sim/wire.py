"""Device frames as the simulator builds and encodes them (the frame format of the wire contract).

Inside the simulator a frame is a plain tuple, cheap to make by the hundred thousand and to
sort: (ts, device index, kind, payload) where kind is REPORT (payload: metric -> value) or
EVENT (payload: (event kind, value)).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

REPORT = 0
EVENT = 1
Frame = tuple[float, int, int, Any]
Encoding = Literal["msgpack", "json"]


class FrameEncoder:
    """Encodes frames for one device population; `ids` and `types` are indexed by device."""

    def __init__(self, ids: list[str], types: list[str], encoding: Encoding = "msgpack") -> None:
        self.ids = ids
        self.types = types
        self._encode = (
            msgspec.msgpack.Encoder().encode if encoding == "msgpack" else msgspec.json.encode
        )

    def encode(self, frame: Frame, seq: int) -> bytes:
        ts, dev, kind, payload = frame
        body: dict[str, Any] = {"dev": self.ids[dev], "type": self.types[dev], "seq": seq, "ts": ts}
        if kind == REPORT:
            body["r"] = payload
        else:
            body["e"], body["x"] = payload
        return self._encode(body)
