"""A tiny stand-in gateway: listens on a SOCK_SEQPACKET socket and keeps every packet."""

from __future__ import annotations

import socket
import threading
from pathlib import Path


class Receiver:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.packets: list[bytes] = []
        self._srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._srv.bind(str(path))
        self._srv.listen(1)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._srv.accept()
        with conn:
            while True:
                packet = conn.recv(65536)
                if not packet:
                    return
                self.packets.append(packet)

    def join(self) -> list[bytes]:
        """Every packet, once the sender has closed its end."""
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the sender never closed its link"
        self._srv.close()
        self.path.unlink(missing_ok=True)
        return self.packets
