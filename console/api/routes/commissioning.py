"""Commissioning: `POST /api/devices/{id}/test` follows one test signal from the device through
gateway, broker, ingest and the detectors, and streams what it sees as NDJSON lines (`step`:
checks, waiting, seen, then one `result`), so the installer's terminal can prompt for the press
and show each hop as it happens. The decisions are vigil/provisioning/commissioning.py's.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import StreamingResponse
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from console.api.deps import AuditDep, DeviceWriter, SessionDep
from console.api.models.common import Key
from console.api.models.provisioning import TestLine, TestRequest
from vigil.db.connect import Conn
from vigil.provisioning.commissioning import (
    ADVICE,
    DeviceFacts,
    GatewayFacts,
    Seen,
    Stop,
    Verdict,
    precheck,
    verdict,
)
from vigil.provisioning.watch import GatewayWatch, WatchError

router = APIRouter(tags=["commissioning"])

POLL_S = 0.05
DEAD_LETTER_POLL_S = 0.5
ALERT_GRACE_S = 10.0  # the detectors answer in well under a second; past this, none is coming
CLOCK_SLACK_S = 2.0  # a device clock a little behind the server's still counts


def _facts(conn: Conn, device_id: str) -> tuple[DeviceFacts | None, GatewayFacts | None]:
    row = conn.execute(
        "select d.id, d.device_type, d.gateway_id, d.retired_at is not null, "
        "       g.id, g.site_id, g.revoked_at is not null, g.retired_at is not null, g.status "
        "from devices d left join gateways g on g.id = d.gateway_id where d.id = %s",
        (device_id,),
    ).fetchone()
    if row is None:
        return None, None
    device = DeviceFacts(id=row[0], device_type=row[1], gateway_id=row[2], retired=row[3])
    if row[4] is None:
        return device, None
    return device, GatewayFacts(
        id=row[4], site_id=row[5], revoked=row[6], retired=row[7], db_status=row[8]
    )


Step = Literal["checks", "waiting", "seen", "result"]


def _line(step: Step, message: str, **extra: Any) -> bytes:
    return TestLine(step=step, message=message, **extra).model_dump_json().encode() + b"\n"


def _result(v: Verdict, seen: Seen | None = None) -> bytes:
    advice = f" — {ADVICE[v.stop]}" if v.stop is not None else ""
    return _line(
        "result",
        v.message + advice,
        passed=v.passed,
        stopped_at=v.stop.value if v.stop else None,
        latency_ms=seen.latency_ms() if seen else None,
        hops_ms=seen.hops_ms() if seen else None,
    )


def _record(conn: Conn, test_id: int, v: Verdict, seen: Seen | None) -> None:
    conn.execute(
        "update commissioning_tests set finished_at = now(), outcome = %s, stopped_at = %s, "
        "latency_ms = %s, detail = %s where id = %s",
        (
            "pass" if v.passed else "fail",
            v.stop.value if v.stop else None,
            seen.latency_ms() if seen else None,
            Jsonb({"message": v.message, "hops_ms": seen.hops_ms() if seen else {}}),
            test_id,
        ),
    )


@router.post(
    "/devices/{device_id}/test",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "TestLine lines"}},
)
def test_device(
    *,
    device_id: Key,
    body: TestRequest,
    request: Request,
    conn: SessionDep,
    user: DeviceWriter,
    audit: AuditDep,
) -> StreamingResponse:
    """Commission a device: checks, then wait for its test signal (the installer presses the
    test button, or `mode=command` sends the gateway a self_test command)."""
    device, gateway = _facts(conn, device_id)
    audit("device.test", f"device:{device_id}", {"mode": body.mode})
    watch = _open_watch(request, device_id, gateway) if device is not None else None
    stopped = precheck(device, gateway, watch.status if watch else None, device_id)
    test_id = None
    if device is not None:
        row = conn.execute(
            "insert into commissioning_tests (device_id, gateway_id, started_by, mode) "
            "values (%s, %s, %s, %s) returning id",
            (device_id, device.gateway_id, user.username, body.mode),
        ).fetchone()
        test_id = row[0] if row else None
    if stopped is not None or watch is None or test_id is None:
        if watch is not None:
            watch.close()
        stop, message = stopped or (Stop.NO_GATEWAY, f"device {device_id} has no gateway")
        v = Verdict(False, stop, message)
        if test_id is not None:
            _record(conn, test_id, v, None)
        lines = iter([_line("checks", message), _result(v)])
        return StreamingResponse(lines, media_type="application/x-ndjson")
    pool: ConnectionPool[Conn] = request.app.state.pool
    return StreamingResponse(_follow(pool, watch, test_id, body), media_type="application/x-ndjson")


def _open_watch(
    request: Request, device_id: str, gateway: GatewayFacts | None
) -> GatewayWatch | None:
    if gateway is None:
        return None
    watch = GatewayWatch(request.app.state.settings, gateway.site_id, gateway.id, device_id)
    try:
        return watch.__enter__()
    except WatchError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"broker: {exc}") from exc


def _follow(
    pool: ConnectionPool[Conn], watch: GatewayWatch, test_id: int, body: TestRequest
) -> Iterator[bytes]:
    """Runs while the answer streams (after the request's own transaction has committed)."""
    status_line = f"gateway {watch.gateway_id} is online"
    v: Verdict | None = None
    seen = Seen()
    try:
        yield _line("checks", status_line)
        watch.reset()
        if body.mode == "command":
            command_id = watch.send_self_test()
            prompt = f"self_test command {command_id} sent to gateway {watch.gateway_id}"
        else:
            prompt = f"press the test button of {watch.device_id} now"
        yield _line("waiting", prompt, detail={"timeout_s": body.timeout_s})
        deadline = time.monotonic() + body.timeout_s
        with pool.connection() as conn:
            conn.autocommit = True
            reported: set[str] = set()
            next_dead_letters = 0.0
            while v is None:
                seen = _observe(conn, watch, seen)
                if time.monotonic() >= next_dead_letters:
                    seen.dead_letters = _dead_letters(conn, watch)
                    next_dead_letters = time.monotonic() + DEAD_LETTER_POLL_S
                for hop, message in _new_hops(seen, reported):
                    reported.add(hop)
                    yield _line("seen", message, hops_ms=seen.hops_ms())
                grace_over = (
                    seen.stored_at is not None and time.time() - seen.stored_at > ALERT_GRACE_S
                )
                v = verdict(seen, timed_out=time.monotonic() >= deadline or grace_over)
                if v is None:
                    time.sleep(POLL_S)
            _record(conn, test_id, v, seen)
        yield _result(v, seen)
    finally:
        watch.close()
        if v is None:  # the client went away mid-test
            with contextlib.suppress(Exception), pool.connection() as conn:
                _record(conn, test_id, Verdict(False, None, "cancelled by the client"), seen)


def _observe(conn: Conn, watch: GatewayWatch, seen: Seen) -> Seen:
    """Add the broker's view (from the watch) and what the database holds by now."""
    broker = watch.snapshot()
    if seen.broker_at is None and broker.broker_at is not None:
        seen.kind, seen.value, seen.seq = broker.kind, broker.value, broker.seq
        seen.device_ts, seen.gateway_rx = broker.device_ts, broker.gateway_rx
        seen.broker_at = broker.broker_at
    since = watch.since - CLOCK_SLACK_S
    if seen.stored_at is None:
        row = conn.execute(
            "select extract(epoch from time)::float8, extract(epoch from gateway_ts)::float8, "
            "       kind, value, seq from device_events "
            "where device_id = %s and gateway_ts >= to_timestamp(%s) "
            "  and (%s::bigint is null or seq = %s) "
            "order by gateway_ts limit 1",
            (watch.device_id, since, seen.seq, seen.seq),
        ).fetchone()
        if row is not None:
            seen.stored_at = time.time()
            if seen.broker_at is None:  # stored without the watch seeing it (another path)
                seen.device_ts, seen.gateway_rx, seen.kind, seen.value, seen.seq = row
    if seen.stored_at is not None and seen.alert_at is None:
        alert = conn.execute(
            "select extract(epoch from decided_at)::float8, kind from alerts "
            "where device_id = %s and decided_at >= to_timestamp(%s) order by decided_at limit 1",
            (watch.device_id, since),
        ).fetchone()
        if alert is not None:
            seen.alert_at, seen.alert_kind = alert
    return seen


def _dead_letters(conn: Conn, watch: GatewayWatch) -> list[dict[str, Any]]:
    """Refused by ingest since the test began: from this gateway, or naming this device."""
    rows = conn.execute(
        "select reason, detail, topic from dead_letters where received_at >= to_timestamp(%s) "
        "and (split_part(topic, '/', 4) = %s or position(%s in detail) > 0) "
        "order by received_at limit 20",
        (watch.since - CLOCK_SLACK_S, watch.gateway_id, watch.device_id),
    ).fetchall()
    return [{"reason": r[0], "detail": r[1], "topic": r[2]} for r in rows]


def _new_hops(seen: Seen, reported: set[str]) -> Iterator[tuple[str, str]]:
    if seen.broker_at is not None and "broker" not in reported:
        yield "broker", f"{seen.kind} from the device reached the broker via its gateway"
    if seen.stored_at is not None and "stored" not in reported:
        yield "stored", "ingest stored it"
    if seen.alert_at is not None and "alert" not in reported:
        yield "alert", f"the detectors raised {seen.alert_kind}"
