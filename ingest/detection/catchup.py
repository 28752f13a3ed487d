"""After a crash: the readings committed since the last checkpoint, and the alerts already written.

The checkpoint is up to `checkpoint_s` old when ingest dies. Messages not yet committed are
redelivered by the broker (ingest acknowledges after the commit), but those committed after the
checkpoint are not: the stage reads them back from TimescaleDB and feeds them to the engine
before anything else, so persistence counters, CUSUM and activity learning continue as if the
crash had not happened. The stage remembers, per device, the newest device time it has fed the
engine (saved with the checkpoint), so a row the checkpoint already holds is not counted twice.
Alerts raised after the checkpoint and before the crash are raised again by this catch-up (or
by the redelivered messages); the ones already in the `alerts` table are not written twice.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg

from detectors.alert import Alert
from detectors.codes import METRIC_CODE, METRICS
from detectors.engine import Batch, DetectorEngine
from ingest.copy_binary import PG_EPOCH_S, pg_micros

# How far before the checkpoint the catch-up looks, in device time: covers device clocks behind
# ingest's and messages in flight when the checkpoint was taken. Older readings committed after
# the checkpoint (a gateway replaying hours of buffered data) are not read back.
MARGIN_S = 600.0

_ROWS = """
select * from (
    select (extract(epoch from r.time - timestamptz '2000-01-01 00:00:00+00') * 1000000)::int8
           as us, d.id, m.name, round(r.value * m.scale) / m.scale,
           extract(epoch from r.time + r.rx_cs * interval '10 milliseconds')::float8 as rx
    from reading_rows r join devices d on d.key = r.device join metrics m on m.code = r.metric
         join gateways g on g.id = d.gateway_id
    where r.time > to_timestamp(%(since)s)
      and (%(sites)s::text[] is null or g.site_id = any(%(sites)s))
    union all
    select (extract(epoch from e.time - timestamptz '2000-01-01 00:00:00+00') * 1000000)::int8,
           e.device_id, e.kind, coalesce(e.value, 'NaN'),
           extract(epoch from e.gateway_ts)::float8
    from device_events e join devices d on d.id = e.device_id
         join gateways g on g.id = d.gateway_id
    where e.time > to_timestamp(%(since)s) and e.kind = any(%(metrics)s)
      and (%(sites)s::text[] is null or g.site_id = any(%(sites)s))
) rows order by rx, us
"""

_WRITTEN = """
select device_id, kind, extract(epoch from ts)::float8 from alerts where ts > to_timestamp(%s)
"""

AlertKey = tuple[str | None, str, int]


def on_micro_grid(ts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Epoch seconds rounded to the microsecond as ingest stores them (`pg_micros`), and as
    `committed_since` reads them back: the same float either way."""
    return pg_micros(ts) / 1e6 + PG_EPOCH_S


def alert_key(alert: Alert) -> AlertKey:
    """What identifies an alert across a restart: device, kind and time (to the millisecond)."""
    return (alert.device_id, alert.kind, round(alert.ts * 1000))


def written_alerts(conn: psycopg.Connection[Any], since: float) -> set[AlertKey]:
    return {(d, str(k), round(float(t) * 1000)) for d, k, t in conn.execute(_WRITTEN, (since,))}


def committed_since(
    conn: psycopg.Connection[Any],
    engine: DetectorEngine,
    seen: npt.NDArray[np.float64],
    since: float,
    sites: Collection[str] | None,
) -> Batch:
    """The engine's batch of what was committed after `since` (device time) for the devices
    of `sites` (None: all), leaving out rows not newer than `seen[slot]`, in arrival order."""
    site_list = None if sites is None else list(sites)
    params = {"since": since, "metrics": list(METRICS), "sites": site_list}
    rows = conn.execute(_ROWS, params).fetchall()
    if not rows:
        return Batch.of([], np.zeros(0, np.int32), np.zeros(0, np.int8), [])
    us, ids, metrics, values, rx = zip(*rows, strict=True)
    slot = engine.slots(ids)
    t = np.array(us, dtype=np.int64) / 1e6 + PG_EPOCH_S
    known = slot >= 0
    newer = np.zeros(len(t), dtype=np.bool_)
    newer[known] = ~(t[known] <= seen[slot[known]])  # NaN (never seen): newer
    metric = np.array([METRIC_CODE[m] for m in metrics], dtype=np.int8)
    return Batch.of(
        t[newer],
        slot[newer],
        metric[newer],
        np.array(values, dtype=np.float64)[newer],
        np.array(rx, dtype=np.float64)[newer],
    )
