"""Where the detector stage hands over: its alerts written as `alerts` rows, announced by
`pg_notify('vigil_alert', id)`, in one transaction per call.

This is the alerting side of the contract in one function, so the code that runs the
`DetectorEngine` behind ingest's `BatchSink` only has to call `write_alerts(conn, alerts)`.
An alert already written (same device, kind and device timestamp: the detector stage deciding a
redelivered message again after ingest was killed before acknowledging it) is skipped, so an
alarm is announced once however often its message arrives.

The `alerts` table has no `rule` column: the rule goes into the evidence, as does the gateway's
receive time when the caller knows it (`gateway_ts`, the per-hop time `incidents.hops` reads).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from psycopg.types.json import Jsonb

from detectors.alert import Alert
from vigil.db.connect import Conn

SIGNALS = frozenset({"alarm", "supervisory", "trouble"})


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def write_alerts(
    conn: Conn,
    alerts: Sequence[Alert],
    *,
    gateway_ts: Mapping[str, float] | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Insert the alerts not written before and announce each; returns their ids, in order.

    `gateway_ts` maps a device id to when its gateway received the triggering reading.
    An alert whose signal or severity the table would refuse raises ValueError before anything
    is written.
    """
    for alert in alerts:
        if alert.signal not in SIGNALS:
            raise ValueError(f"alert signal must be one of {sorted(SIGNALS)}, got {alert.signal!r}")
        if not 1 <= alert.severity <= 5:
            raise ValueError(f"alert severity must be 1..5, got {alert.severity}")
        if not math.isfinite(alert.ts):
            raise ValueError(f"alert ts must be a finite epoch time, got {alert.ts}")
    received_default = now or datetime.now(UTC)
    ids: list[int] = []
    with conn.transaction():
        for alert in alerts:
            evidence = {**alert.evidence, "rule": alert.rule}
            if gateway_ts and alert.device_id in gateway_ts:
                evidence["gateway_ts"] = gateway_ts[alert.device_id]
            received = (
                _when(alert.received_at) if math.isfinite(alert.received_at) else received_default
            )
            row = conn.execute(
                "insert into alerts (device_id, household_id, kind, signal, severity, score, "
                "reason, evidence, ts, received_at) select %s, %s, %s, %s, %s, %s, %s, %s, %s, %s "
                "where not exists (select 1 from alerts where device_id = %s and ts = %s "
                "and kind = %s) returning id",
                (
                    alert.device_id,
                    alert.household_id,
                    alert.kind,
                    alert.signal,
                    alert.severity,
                    alert.score if math.isfinite(alert.score) else 0.0,
                    alert.reason,
                    Jsonb(evidence),
                    _when(alert.ts),
                    received,
                    alert.device_id,
                    _when(alert.ts),
                    alert.kind,
                ),
            ).fetchone()
            if row is None:  # written before
                continue
            ids.append(int(row[0]))
            conn.execute("select pg_notify('vigil_alert', %s)", (str(row[0]),))
    return ids
