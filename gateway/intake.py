"""Device frames in: a Unix SOCK_SEQPACKET socket that many devices connect to.

SEQPACKET keeps message boundaries and order and blocks a sender when the gateway falls behind,
so one `recv` is one frame and nothing is lost on the way (docs/protocol.md, "Device frames").
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import stat
from collections.abc import Callable
from pathlib import Path

from vigil.frames import MAX_FRAME_BYTES

log = logging.getLogger(__name__)

# Frames read from one device connection before the others (and the broker) get a turn, so one
# chatty device cannot delay an alarm from another by more than a few hundred microseconds.
PACKETS_PER_TURN = 64

OnPacket = Callable[[bytes], None]


class FrameIntake:
    """Accepts device connections and hands every packet to `on_packet`, in arrival order."""

    def __init__(self, path: Path, selector: selectors.BaseSelector, on_packet: OnPacket) -> None:
        self.path = path
        self._selector = selector
        self._on_packet = on_packet
        self.connections: set[socket.socket] = set()
        _remove_stale_socket(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._listener.bind(str(path))
        self._listener.listen(128)
        self._listener.setblocking(False)
        selector.register(self._listener, selectors.EVENT_READ, self._accept)

    def _accept(self, _mask: int) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except BlockingIOError:
                return
            conn.setblocking(False)
            self.connections.add(conn)
            self._selector.register(conn, selectors.EVENT_READ, lambda _m, c=conn: self._read(c))

    def _read(self, conn: socket.socket) -> None:
        for _ in range(PACKETS_PER_TURN):
            try:
                # One byte more than a frame may hold tells an oversized frame from a full one.
                packet = conn.recv(MAX_FRAME_BYTES + 1)
            except BlockingIOError:
                return
            except OSError as exc:
                log.info("device connection failed: %s", exc)
                self._drop(conn)
                return
            if not packet:
                self._drop(conn)
                return
            self._on_packet(packet)

    def _drop(self, conn: socket.socket) -> None:
        self._selector.unregister(conn)
        self.connections.discard(conn)
        conn.close()

    def close(self) -> None:
        for conn in list(self.connections):
            self._drop(conn)
        self._selector.unregister(self._listener)
        self._listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _remove_stale_socket(path: Path) -> None:
    """Remove a socket file left by a gateway that died; refuse to steal a live one's."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise FileExistsError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        os.unlink(path)
        return
    finally:
        probe.close()
    raise FileExistsError(f"another gateway is listening on {path}")
