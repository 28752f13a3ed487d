"""Counters for the console (`/metrics.json`) and Prometheus (`/metrics`), served on loopback.

The ingest threads update plain attributes; readers take a consistent copy under the lock.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ingest.deadletter import Reason
from ingest.store import Outcome

COMMIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Counters:
    """Everything ingest counts; `snapshot()` is what the console and Prometheus see."""

    messages_received: int = 0
    messages_committed: int = 0
    messages_duplicate: int = 0
    readings: int = 0
    readings_duplicate: int = 0
    events: int = 0
    events_duplicate: int = 0
    dead_letters: Counter[Reason] = field(default_factory=Counter)
    dead_items: Counter[Reason] = field(default_factory=Counter)
    inbox_bytes: int = 0
    inbox_full_waits: int = 0
    commits: int = 0
    commit_seconds_sum: float = 0.0
    commit_buckets: list[int] = field(default_factory=lambda: [0] * len(COMMIT_BUCKETS))
    newest_sent: float = 0.0  # gateway send time of the newest committed message
    oldest_pending: float = 0.0  # arrival time of the oldest message not yet acknowledged, or 0
    pending_messages: int = 0
    database_up: bool = False
    broker_connected: bool = False
    started: float = field(default_factory=time.time)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def committed(self, outcome: Outcome) -> None:
        with self.lock:
            self.messages_committed += outcome.messages
            self.messages_duplicate += outcome.duplicate_messages
            self.readings += outcome.readings
            self.readings_duplicate += outcome.duplicate_readings
            self.events += outcome.events
            self.events_duplicate += outcome.duplicate_events
            self.dead_letters.update(outcome.dead_letters)
            self.dead_items.update(outcome.dead_items)
            self.newest_sent = max(self.newest_sent, outcome.newest_sent)
            self.commits += 1
            self.commit_seconds_sum += outcome.seconds
            for i, bound in enumerate(COMMIT_BUCKETS):
                if outcome.seconds <= bound:
                    self.commit_buckets[i] += 1

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """A JSON-ready copy; lag figures are computed against `now`."""
        now = time.time() if now is None else now
        with self.lock:
            return {
                "messages_received": self.messages_received,
                "messages_committed": self.messages_committed,
                "messages_duplicate": self.messages_duplicate,
                "readings": self.readings,
                "readings_duplicate": self.readings_duplicate,
                "events": self.events,
                "events_duplicate": self.events_duplicate,
                "dead_letters": {r.value: n for r, n in sorted(self.dead_letters.items())},
                "dead_items": {r.value: n for r, n in sorted(self.dead_items.items())},
                "inbox_bytes": self.inbox_bytes,
                "inbox_full_waits": self.inbox_full_waits,
                "commits": self.commits,
                "commit_seconds_sum": self.commit_seconds_sum,
                "commit_buckets": dict(zip(COMMIT_BUCKETS, self.commit_buckets, strict=True)),
                "lag_seconds": max(0.0, now - self.newest_sent) if self.newest_sent else None,
                "oldest_pending_seconds": (
                    max(0.0, now - self.oldest_pending) if self.oldest_pending else 0.0
                ),
                "pending_messages": self.pending_messages,
                "database_up": self.database_up,
                "broker_connected": self.broker_connected,
                "uptime_seconds": now - self.started,
            }


_HELP = {
    "messages_received": ("counter", "uplink messages received from the broker"),
    "messages_committed": ("counter", "uplink messages committed and acknowledged"),
    "messages_duplicate": ("counter", "redelivered messages found already ingested"),
    "readings": ("counter", "readings stored"),
    "readings_duplicate": ("counter", "readings dropped as already stored"),
    "events": ("counter", "device events stored"),
    "events_duplicate": ("counter", "device events dropped as already stored"),
    "inbox_bytes": ("gauge", "bytes of received messages waiting to be decoded"),
    "inbox_full_waits": ("counter", "times the network thread waited for room in the inbox"),
    "lag_seconds": ("gauge", "now minus the gateway send time of the newest committed message"),
    "oldest_pending_seconds": ("gauge", "age of the oldest message received but not acknowledged"),
    "pending_messages": ("gauge", "messages received but not yet acknowledged"),
    "database_up": ("gauge", "1 while the last commit or connection attempt succeeded"),
    "broker_connected": ("gauge", "1 while connected to the broker"),
}


def prometheus_text(snap: dict[str, Any]) -> str:
    """The Prometheus text exposition format of a `Counters.snapshot()`."""
    lines: list[str] = []
    for key, (kind, text) in _HELP.items():
        name = f"vigil_ingest_{key}" + ("_total" if kind == "counter" else "")
        value = snap[key]
        if value is None:
            continue
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", f"{name} {float(value)}"]
    for key, text in (
        ("dead_letters", "dead-letter rows written"),
        ("dead_items", "readings, events or messages dead-lettered"),
    ):
        name = f"vigil_ingest_{key}_total"
        lines += [f"# HELP {name} {text}, by reason", f"# TYPE {name} counter"]
        for reason in Reason:
            lines.append(f'{name}{{reason="{reason.value}"}} {snap[key].get(reason.value, 0)}')
    name = "vigil_ingest_commit_seconds"
    lines += [f"# HELP {name} duration of one batch transaction", f"# TYPE {name} histogram"]
    for bound, count in snap["commit_buckets"].items():
        lines.append(f'{name}_bucket{{le="{bound}"}} {count}')
    lines.append(f'{name}_bucket{{le="+Inf"}} {snap["commits"]}')
    lines.append(f"{name}_sum {snap['commit_seconds_sum']}")
    lines.append(f"{name}_count {snap['commits']}")
    return "\n".join(lines) + "\n"


class MetricsServer:
    """`/metrics` (Prometheus) and `/metrics.json` (console) on 127.0.0.1, in a daemon thread."""

    def __init__(self, counters: Counters, port: int) -> None:
        handler = _handler(counters)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ingest-metrics", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(counters: Counters) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                body = prometheus_text(counters.snapshot()).encode()
                kind = "text/plain; version=0.0.4"
            elif self.path == "/metrics.json":
                body = json.dumps(counters.snapshot()).encode()
                kind = "application/json"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Scrapes are not worth a log line."""

    return Handler
