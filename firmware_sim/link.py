"""The radio link from devices to their gateway: a Unix SOCK_SEQPACKET socket.

SEQPACKET keeps message boundaries and order and blocks the sender when the gateway falls
behind, like a radio link with link-layer acknowledgements (minus the loss): one packet is
one frame, and a slow gateway slows the district down instead of losing its frames.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from vigil.errors import VigilError

SEND_BUFFER_BYTES = 4 * 1024 * 1024


class LinkError(VigilError):
    """A gateway's socket could not be reached or went away."""


def socket_path(var_dir: Path, gateway_id: str) -> Path:
    return var_dir / "gateways" / f"{gateway_id}.sock"


class GatewayLink:
    """One gateway's socket, as all of that gateway's devices share it."""

    def __init__(self, gateway_id: str, path: Path) -> None:
        self.gateway_id = gateway_id
        self.path = path
        self.frames = 0
        self.bytes = 0
        self._sock: socket.socket | None = None

    def connect(self, timeout_s: float = 10.0) -> None:
        """Connect, waiting up to `timeout_s` for a gateway that is still starting."""
        deadline = time.monotonic() + timeout_s
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
                sock.connect(str(self.path))
            except OSError as exc:
                sock.close()
                if time.monotonic() >= deadline:
                    raise LinkError(
                        f"gateway {self.gateway_id}: cannot connect to {self.path}: {exc}"
                    ) from exc
                time.sleep(0.05)
                continue
            self._sock = sock
            return

    def send(self, packets: list[bytes]) -> None:
        """Send frames in order, one packet each; blocks while the gateway is behind."""
        if self._sock is None:
            raise LinkError(f"gateway {self.gateway_id}: not connected")
        send = self._sock.send
        try:
            for p in packets:
                send(p)
        except OSError as exc:
            raise LinkError(f"gateway {self.gateway_id}: link lost: {exc}") from exc
        self.frames += len(packets)
        self.bytes += sum(map(len, packets))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
