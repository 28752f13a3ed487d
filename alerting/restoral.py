"""Restorals: the end of a condition (a device's own alarm going quiet, tamper closed, battery
replaced, device back online) on the incident it belongs to.

A restoral is an alert with `evidence.restoral` (detectors.fusion, rule `restored`). It never
opens an incident. It joins the open incident of its cause as a timeline entry, so the board
shows that the device says it is over; a trouble or supervisory incident whose every source is
restored is resolved by the system. An alarm incident stays open: someone must still look.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alerting import store
from alerting.lifecycle import Action
from alerting.policies import PolicyBook
from alerting.store import Conn, IncidentRow

_LATEST = """
select distinct on (device_id, kind) device_id, kind, coalesce(evidence->>'rule', '')
from alerts where incident_id = %s or id = %s
order by device_id, kind, ts desc, id desc
"""


def is_restoral(alert: dict[str, Any]) -> bool:
    return bool((alert.get("evidence") or {}).get("restoral"))


def apply(
    conn: Conn, book: PolicyBook, alert: dict[str, Any], row: IncidentRow | None, now: datetime
) -> int | None:
    """Record the restoral on `row` (the open incident of its cause, if any); returns its id."""
    conn.execute(
        "update alerts set incident_id = %s, triaged_at = %s where id = %s",
        (row.id if row else None, now, alert["id"]),
    )
    if row is None:
        return None  # nothing open: the condition was never shown, or is closed already
    store.timeline(
        conn,
        row.id,
        at=now,
        actor="system",
        action="restored",
        from_state=str(row.state),
        to_state=str(row.state),
        note=f"{alert['kind']} on {alert['device_id']} restored / 已恢复: {alert['reason']}",
    )
    if row.signal != "alarm" and _all_restored(conn, row, alert["id"]):
        store.act(
            conn,
            incident_id=row.id,
            action=Action.RESOLVE,
            actor="system",
            note="every device restored / 所有设备已恢复",
            now=now,
            book=book,
        )
    return row.id


def _all_restored(conn: Conn, row: IncidentRow, alert_id: int) -> bool:
    """Whether the latest alert of each source (device, kind) of the incident is a restoral."""
    latest = conn.execute(_LATEST, (row.id, alert_id)).fetchall()
    return bool(latest) and all(rule == "restored" for _dev, _kind, rule in latest)
