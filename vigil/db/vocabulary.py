"""The `metrics` table kept equal to `device_types.toml`, the one vocabulary of metric codes.

`reading_rows` stores a metric as its code; the `readings` view reads its name and resolution
from `metrics`. A metric appended to the file is added here at the next migration run; a code
that names another metric than the file says is refused, as rows already stored under it would
change meaning.
"""

from __future__ import annotations

from vigil.db.connect import Conn
from vigil.device_types import METRICS, metrics
from vigil.errors import MigrationError

_UPSERT = """
insert into metrics (code, name, unit, scale)
select * from unnest(%s::int2[], %s::text[], %s::text[], %s::float8[])
on conflict (code) do update set unit = excluded.unit, scale = excluded.scale
"""


def sync_metrics(conn: Conn) -> None:
    """Add the file's new metrics and update units and resolutions; refuse a renamed code."""
    if conn.execute("select to_regclass('metrics')").fetchone() in (None, (None,)):
        return  # before migration 0022
    stored = {int(str(c)): str(n) for c, n in conn.execute("select code, name from metrics")}
    moved = {c: n for c, n in stored.items() if c >= len(METRICS) or METRICS[c] != n}
    if moved:
        raise MigrationError(
            f"metric codes {sorted(moved)} name other metrics than device_types.toml says "
            "(append new metrics to the file; never reorder it)"
        )
    table = metrics()
    conn.execute(
        _UPSERT,
        (
            list(range(len(METRICS))),
            list(METRICS),
            [table[m].unit for m in METRICS],
            [table[m].scale for m in METRICS],
        ),
    )
