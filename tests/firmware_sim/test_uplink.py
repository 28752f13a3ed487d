"""Cuttable uplinks against a loopback echo server standing in for the broker."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from firmware_sim.uplink import UplinkSwitchboard


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with contextlib.suppress(ConnectionResetError):  # a cut resets the proxy's upstream too
            while data := self.request.recv(4096):
                self.request.sendall(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _roundtrip(port: int, payload: bytes = b"PINGREQ") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=2.0) as s:
        s.sendall(payload)
        return s.recv(4096)


def _refused(port: int) -> bool:
    """A new connection is reset at once (at connect or at the first read)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2.0) as s:
            s.sendall(b"CONNECT")
            return _connection_dies(s)
    except OSError:
        return True


def _connection_dies(sock: socket.socket) -> bool:
    try:
        return sock.recv(4096) == b""
    except OSError:
        return True


def test_proxy_passes_traffic_until_cut_and_after_restore(echo_port: int) -> None:
    board = UplinkSwitchboard("127.0.0.1", echo_port)
    port = board.add("gw-0001")
    board.start()
    try:
        assert _roundtrip(port) == b"PINGREQ"
        live = socket.create_connection(("127.0.0.1", port), timeout=2.0)
        live.sendall(b"x")
        assert live.recv(10) == b"x"
        board.switch("gw-0001").cut()
        assert _connection_dies(live), "the open connection drops"
        live.close()
        assert _refused(port), "new connections are refused while cut"
        board.switch("gw-0001").restore()
        assert _roundtrip(port, b"back") == b"back"
    finally:
        board.close()


def test_cutting_one_gateway_leaves_the_others_up(echo_port: int) -> None:
    board = UplinkSwitchboard("127.0.0.1", echo_port)
    a, b = board.add("gw-a"), board.add("gw-b")
    board.start()
    try:
        board.switch("gw-a").cut()
        assert _roundtrip(b) == b"PINGREQ"
        assert _refused(a)
    finally:
        board.close()
