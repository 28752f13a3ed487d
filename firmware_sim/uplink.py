"""Cuttable uplinks: a loopback TCP proxy between a gateway and the broker, one listening port
per gateway, that can drop the connection and refuse new ones for a while — the gateway's
mobile link going down, seen from both ends as a connection reset.

One thread serves every proxied gateway through a selector; cut() and restore() are safe to
call from the simulator's thread.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from dataclasses import dataclass, field

_CHUNK = 65536
_POLL_S = 0.05


def _reset(sock: socket.socket) -> None:
    """Close with a reset, as a link that vanishes does, rather than an orderly FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@dataclass
class _Gate:
    gateway_id: str
    listener: socket.socket
    cut: bool = False
    pairs: list[tuple[socket.socket, socket.socket]] = field(default_factory=list)


class UplinkSwitchboard:
    """Proxies for several gateways to one broker address."""

    def __init__(self, broker_host: str, broker_port: int) -> None:
        self.broker = (broker_host, broker_port)
        self._sel = selectors.DefaultSelector()
        self._gates: dict[str, _Gate] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="uplinks", daemon=True)

    def add(self, gateway_id: str) -> int:
        """Open a proxy for `gateway_id`; returns the port the gateway should connect to."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        gate = _Gate(gateway_id, listener)
        with self._lock:
            self._gates[gateway_id] = gate
            self._sel.register(listener, selectors.EVENT_READ, gate)
        return int(listener.getsockname()[1])

    def switch(self, gateway_id: str) -> _Switch:
        return _Switch(self, gateway_id)

    def set_cut(self, gateway_id: str, cut: bool) -> None:
        with self._lock:
            gate = self._gates[gateway_id]
            gate.cut = cut
            if cut:
                for a, b in gate.pairs:
                    for s in (a, b):
                        self._sel.unregister(s)
                        _reset(s)
                gate.pairs.clear()

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        with self._lock:
            for gate in self._gates.values():
                for a, b in gate.pairs:
                    a.close()
                    b.close()
                gate.listener.close()
            self._sel.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            events = self._sel.select(timeout=_POLL_S)
            with self._lock:
                for key, _ in events:
                    if key.fileobj.fileno() != -1:  # type: ignore[union-attr]
                        self._ready(key)

    def _ready(self, key: selectors.SelectorKey) -> None:
        data = key.data
        if isinstance(data, _Gate):
            self._accept(data)
            return
        gate, peer = data
        sock: socket.socket = key.fileobj  # type: ignore[assignment]
        try:
            chunk = sock.recv(_CHUNK)
            if chunk:
                peer.sendall(chunk)
                return
        except OSError:
            pass
        self._drop(gate, sock)

    def _accept(self, gate: _Gate) -> None:
        try:
            client, _ = gate.listener.accept()
        except BlockingIOError:
            return
        if gate.cut:
            _reset(client)
            return
        try:
            upstream = socket.create_connection(self.broker, timeout=2.0)
        except OSError:
            _reset(client)
            return
        for s in (client, upstream):
            s.setblocking(True)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        gate.pairs.append((client, upstream))
        self._sel.register(client, selectors.EVENT_READ, (gate, upstream))
        self._sel.register(upstream, selectors.EVENT_READ, (gate, client))

    def _drop(self, gate: _Gate, sock: socket.socket) -> None:
        for pair in [p for p in gate.pairs if sock in p]:
            gate.pairs.remove(pair)
            for s in pair:
                self._sel.unregister(s)
                s.close()


@dataclass(frozen=True)
class _Switch:
    board: UplinkSwitchboard
    gateway_id: str

    def cut(self) -> None:
        self.board.set_cut(self.gateway_id, True)

    def restore(self) -> None:
        self.board.set_cut(self.gateway_id, False)
