"""`vigil alerting bench`: how long an alert takes from its commit to a live-stream client.

The last stretch of the alarm path, measured on its own: alerts are written the way the
detector stage writes them (INSERT + NOTIFY vigil_alert) into a registry of `households`
homes, at `rate` per second, while `vigil alerting run` and `vigil console run` run as their
own processes; a WebSocket client subscribed to /api/live notes when each new incident arrives.
Latency is from the alert's device timestamp (set to the moment of the insert) to receipt.
The last line printed is one JSON object.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from vigil.harness import free_port, vigil_process, wait_for_port


@dataclass(frozen=True)
class BenchResult:
    alerts: int
    received: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    rate_per_s: float
    commit_p50_ms: float  # alert written -> incident committed (the alerting service's share)

    def to_json(self) -> dict[str, float | int]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def live_headers(dsn: str) -> dict[str, str]:
    """A supervisor's session for the bench client: the live stream is for signed-in users."""
    from console.api import accounts
    from console.api.roles import Role

    now = datetime.now(UTC)
    with psycopg.connect(dsn, autocommit=True) as conn:
        user = accounts.create_user(
            conn,
            username=f"bench-{os.getpid()}",
            password=os.urandom(12).hex(),
            role=Role.SUPERVISOR,
        )
        token = accounts.open_session(
            conn,
            user_id=user,
            now=now,
            lifetime=timedelta(hours=1),
            remote_addr=None,
            user_agent="bench",
        )
    return {"Authorization": f"Bearer {token}"}


def seed_registry(conn: psycopg.Connection[tuple[object, ...]], households: int) -> list[str]:
    """A bench site with `households` homes (no contacts: SMS is not what is measured)."""
    with conn.transaction():
        conn.execute(
            "insert into sites (id, name, district) values ('bench', 'bench', 'bench') "
            "on conflict do nothing"
        )
        conn.execute(
            "insert into grids (id, site_id, name) values ('bench-g', 'bench', 'bench') "
            "on conflict do nothing"
        )
        conn.execute(
            "insert into buildings (id, grid_id, name, address) values "
            "('bench-b', 'bench-g', 'bench', 'bench road 1') on conflict do nothing"
        )
        ids = [f"bench-h{n:05d}" for n in range(households)]
        with conn.cursor() as cur:
            cur.executemany(
                "insert into households (id, building_id, unit) values (%s, 'bench-b', %s) "
                "on conflict do nothing",
                [(h, h[-5:]) for h in ids],
            )
        # Close what a previous run left open, so every alert opens a new incident.
        conn.execute(
            "update incidents set state = 'test', closed_at = now() where household_id like "
            "'bench-%%' and state not in ('resolved', 'false_alarm', 'test')"
        )
        conn.execute(
            "update escalation_timers set cancelled_at = now() where fired_at is null "
            "and cancelled_at is null"
        )
    return ids


class LiveClient:
    """Notes when each household's incident first arrives on an open /api/live connection."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self.first_seen: dict[str, float] = {}
        ws.recv(timeout=10)  # the snapshot
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            for raw in self._ws:
                now = time.time()
                message = json.loads(raw)
                if message.get("type") != "incident":
                    continue
                household = message["incident"].get("household_id")
                if household is not None:
                    self.first_seen.setdefault(household, now)


def _inject(
    conn: psycopg.Connection[tuple[object, ...]], households: list[str], rate: float
) -> dict[str, float]:
    """One panic alert per household at `rate` per second; returns when each was written."""
    sent: dict[str, float] = {}
    start = time.monotonic()
    for n, household in enumerate(households):
        pause = start + n / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        ts = time.time()
        at = datetime.fromtimestamp(ts, UTC)
        conn.execute(
            "with a as (insert into alerts (device_id, household_id, kind, signal, severity, "
            "score, reason, ts, received_at) values (%s, %s, 'panic', 'alarm', 4, 1.0, 'bench', "
            "%s, %s) returning id) select pg_notify('vigil_alert', id::text) from a",
            (f"pb-{household}", household, at, at),
        )
        sent[household] = ts
    return sent


def run_bench(dsn: str, *, alerts: int, rate: float, workdir: Path) -> BenchResult:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        VIGIL_DATABASE_URL=dsn, VIGIL_CONFIG=str(workdir / "absent.toml"), VIGIL_LOG_LEVEL="WARNING"
    )
    port = free_port()
    with psycopg.connect(dsn, autocommit=True) as conn:
        households = seed_registry(conn, alerts)
        with (
            vigil_process(["alerting", "run"], env, workdir / "alerting.log"),
            vigil_process(["console", "run", "--port", str(port)], env, workdir / "serve.log"),
        ):
            wait_for_port(port)
            url = f"ws://127.0.0.1:{port}/api/live"
            with connect(url, open_timeout=10, additional_headers=live_headers(dsn)) as ws:
                client = LiveClient(ws)
                sent = _inject(conn, households, rate)
                deadline = time.monotonic() + 10
                while len(client.first_seen) < len(sent) and time.monotonic() < deadline:
                    time.sleep(0.05)
    latencies = [
        (client.first_seen[h] - t) * 1000 for h, t in sent.items() if h in client.first_seen
    ]
    if not latencies:
        raise RuntimeError(f"no incident reached the live stream; see logs in {workdir}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        commits = [
            float(str(v))
            for (v,) in conn.execute(
                "select ((hops->>'committed')::float8 - (hops->>'device')::float8) * 1000 "
                "from incidents where household_id like 'bench-%%' and hops ? 'committed'"
            )
        ]
    return BenchResult(
        alerts=len(sent),
        received=len(latencies),
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
        p99_ms=percentile(latencies, 99),
        max_ms=max(latencies),
        rate_per_s=rate,
        commit_p50_ms=percentile(commits, 50),
    )


def notify_baseline(dsn: str, *, count: int, rate: float) -> list[float]:
    """The floor under our figure, in the same run: an INSERT + NOTIFY seen by a LISTEN client."""
    seen: dict[str, float] = {}
    ready = threading.Event()

    def listen() -> None:
        with psycopg.connect(dsn, autocommit=True) as listener:
            listener.execute("listen vigil_bench")
            ready.set()
            for note in listener.notifies(timeout=count / rate + 10, stop_after=count):
                seen[note.payload] = time.time()

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    ready.wait(10)
    sent: dict[str, float] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create temporary table bench_notes (n int)")
        start = time.monotonic()
        for n in range(count):
            pause = start + n / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            sent[str(n)] = time.time()
            conn.execute(
                "with a as (insert into bench_notes values (%s) returning n) "
                "select pg_notify('vigil_bench', n::text) from a",
                (n,),
            )
    thread.join(count / rate + 15)
    return [(seen[k] - t) * 1000 for k, t in sent.items() if k in seen]


def main(argv: list[str] | None = None) -> None:
    import argparse
    import tempfile

    from vigil.db.timescale import Retention
    from vigil.harness import scratch_database
    from vigil.settings import get_settings
    from vigil.stack import LocalStack

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=600)
    parser.add_argument("--rate", type=float, default=50.0, help="alerts per second")
    args = parser.parse_args(argv)
    settings = get_settings()
    stack = LocalStack(settings)
    started_here = not stack.status()["postgres"]["running"]
    stack.up()
    retention = Retention(settings.raw_retention_days, settings.rollup_retention_days)
    try:
        with (
            scratch_database(stack, prefix="bench_alerting", retention=retention) as dsn,
            tempfile.TemporaryDirectory(prefix="vigil-bench-") as workdir,
        ):
            result = run_bench(dsn, alerts=args.alerts, rate=args.rate, workdir=Path(workdir))
            baseline = notify_baseline(dsn, count=args.alerts, rate=args.rate)
    finally:
        if started_here:
            stack.down()
    out = result.to_json()
    out["baseline_notify_p50_ms"] = round(percentile(baseline, 50), 2)
    out["baseline_notify_p99_ms"] = round(percentile(baseline, 99), 2)
    out["p50_ratio_to_notify"] = round(result.p50_ms / max(percentile(baseline, 50), 1e-3), 1)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
