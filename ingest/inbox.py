"""The queue between paho's network thread and the decoder, bounded in bytes.

The broker's receive window should bound what is in flight, but Mosquitto 2.0.11 overshoots
it once acknowledgements flow (tests/ingest/test_consumer.py); past `max_bytes` the network
thread waits here, stops reading the socket, and TCP holds the broker back instead.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    """FIFO of (item, size); `put` blocks while the queued sizes exceed `max_bytes`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: deque[tuple[T, int]] = deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self._closed = False

    def put(self, item: T, size: int) -> None:
        """Queue `item`, waiting while the inbox is over its bound; dropped once closed."""
        with self._cond:
            while self._bytes > self.max_bytes and not self._closed:
                self._cond.wait()
            if self._closed:
                return
            self._items.append((item, size))
            self._bytes += size
            self._cond.notify_all()

    def get(self, timeout: float) -> T | None:
        """The oldest item, or None if none came within `timeout` seconds."""
        with self._cond:
            if not self._items and not self._cond.wait_for(lambda: bool(self._items), timeout):
                return None
            item, size = self._items.popleft()
            self._bytes -= size
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """At shutdown: release a waiting `put` and drop what comes after (it is unacknowledged,
        so the broker sends it again)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._bytes
