"""The evidence each alarm needs (issue 22): a panic press shows the button, the residents'
age, mobility and medical notes, the home's last activity and who holds a key; a fire every
detector of the household and the building with the rule that fired and its thresholds; a
device trouble the device itself (its history is `GET /api/devices/{id}/history`).

Hooks: a cooking signal or a hush (issue 16) and a wellness routine (issue 15) add their own
layouts; `Evidence.hooks` is where they put what they bring.
"""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row

from console.api.models.incidents import (
    Activity,
    AlertPublic,
    ContactCard,
    DeviceCard,
    Evidence,
    HistoryItem,
    IncidentPublic,
    RuleFired,
    Threshold,
)
from console.api.words import alert_text
from vigil.db.connect import Conn
from vigil.messages import Language

FIRE_TYPES = ("smoke", "heat", "multi", "co")
ACTIVITY_METRICS = ("motion", "door")

# Which thresholds are levels on a metric's curve, and whether they sit over the smoke baseline.
_LEVELS: dict[str, tuple[str, bool]] = {
    "smoke_high_pct": ("smoke_obscuration", True),
    "smoke_pre_pct": ("smoke_obscuration", True),
    "smoke_verify_pct": ("smoke_obscuration", True),
    "smoke_fused_pct": ("smoke_obscuration", True),
    "heat_fixed_c": ("temperature", False),
    "co_alarm_ppm": ("co", False),
    "battery_low_v": ("battery", False),
}


def layout_of(incident: IncidentPublic) -> str:
    if incident.cause in ("fire", "panic", "inactivity"):
        return incident.cause
    if incident.cause in ("cooking", "hush", "wellness"):
        return incident.cause
    return "trouble" if incident.signal in ("trouble", "supervisory") else "other"


_DEVICE_SQL = """
select d.id, d.device_type, d.room, d.household_id, h.unit, d.last_seen, d.battery_v
from devices d left join households h on h.id = d.household_id
"""


def devices(conn: Conn, ids: list[str]) -> list[DeviceCard]:
    if not ids:
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_DEVICE_SQL + "where d.id = any(%s) order by d.id", (ids,)).fetchall()
    return [DeviceCard.model_validate(r) for r in rows]


def building_of(conn: Conn, household_id: str | None) -> str | None:
    if household_id is None:
        return None
    row = conn.execute(
        "select building_id from households where id = %s", (household_id,)
    ).fetchone()
    return None if row is None else str(row[0])


def building_detectors(conn: Conn, household_id: str | None) -> list[DeviceCard]:
    """Every fire detector of the household's building: its own first, then the neighbours'
    and the common parts' (stairwells), by unit."""
    building = building_of(conn, household_id)
    if building is None:
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            _DEVICE_SQL + "left join gateways g on g.id = d.gateway_id "
            "where d.retired_at is null and d.device_type = any(%s) "
            "and (h.building_id = %s or (d.household_id is null and g.building_id = %s)) "
            "order by d.household_id is distinct from %s, h.unit nulls last, d.id",
            (list(FIRE_TYPES), building, building, household_id),
        ).fetchall()
    return [DeviceCard.model_validate(r) for r in rows]


def last_activity(conn: Conn, household_id: str | None) -> Activity | None:
    """The household's latest sign of life other than the alarm itself: motion or a door, as a
    reading or a device event, in the last 7 days."""
    if household_id is None:
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "select * from ("
            " select r.time as at, r.device_id, d.device_type, d.room, r.metric, r.value "
            " from readings r join devices d on d.id = r.device_id "
            " where d.household_id = %(h)s and r.metric = any(%(m)s) and r.value > 0 "
            " and r.time > now() - interval '7 days' "
            " union all "
            " select e.time, e.device_id, d.device_type, d.room, e.kind, coalesce(e.value, 1) "
            " from device_events e join devices d on d.id = e.device_id "
            " where d.household_id = %(h)s and e.kind = any(%(m)s) "
            " and e.time > now() - interval '7 days'"
            ") a order by at desc limit 1",
            {"h": household_id, "m": list(ACTIVITY_METRICS)},
        ).fetchone()
    return None if row is None else Activity.model_validate(row)


def key_holders(conn: Conn, household_id: str | None) -> list[ContactCard]:
    if household_id is None:
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "select c.name, c.relation, c.phone, c.priority, c.has_key from contacts c "
            "join residents r on r.id = c.resident_id where r.household_id = %s "
            "and c.retired_at is null and r.retired_at is null and c.has_key "
            "order by c.priority, c.id",
            (household_id,),
        ).fetchall()
    return [ContactCard.model_validate(r) for r in rows]


def rules(alerts: list[AlertPublic]) -> list[RuleFired]:
    return [
        RuleFired(
            device_id=a.device_id,
            kind=a.kind,
            rule=a.rule,
            thresholds={
                k: float(v)
                for k, v in (a.evidence.get("thresholds") or {}).items()
                if isinstance(v, int | float)
            },
            text=a.text,
        )
        for a in alerts
    ]


def thresholds(alerts: list[AlertPublic]) -> list[Threshold]:
    """The levels each fired rule judged by, as lines on its metric's curve."""
    out: dict[tuple[str, float], Threshold] = {}
    for a in alerts:
        figures: dict[str, Any] = a.evidence.get("thresholds") or {}
        base = a.evidence.get("smoke_baseline_pct") or 0.0
        for name, value in figures.items():
            if name not in _LEVELS or not isinstance(value, int | float):
                continue
            metric, over_base = _LEVELS[name]
            level = round(float(value) + (float(base) if over_base else 0.0), 3)
            out.setdefault(
                (metric, level),
                Threshold(metric=metric, value=level, device_id=a.device_id, rule=a.rule),
            )
    return list(out.values())


def history(conn: Conn, ids: list[str], lang: Language, tz: str) -> list[HistoryItem]:
    """The devices' alerts, newest first: what they raised before, and in which incident."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "select ts, device_id, kind, evidence->>'rule' as rule, reason, evidence, incident_id "
            "from alerts where device_id = any(%s) order by ts desc limit 50",
            (ids,),
        ).fetchall()
    return [
        HistoryItem(
            ts=r["ts"],
            device_id=r["device_id"],
            kind=r["kind"],
            rule=r["rule"],
            text=alert_text(r, lang, tz),
            incident_id=r["incident_id"],
        )
        for r in rows
    ]


def build(
    conn: Conn, incident: IncidentPublic, alerts: list[AlertPublic], lang: Language, tz: str
) -> Evidence:
    layout = layout_of(incident)
    ids = list(dict.fromkeys(a.device_id for a in alerts))
    evidence = Evidence(layout=layout, devices=devices(conn, ids), rules=rules(alerts))
    if layout in ("panic", "inactivity"):
        evidence.last_activity = last_activity(conn, incident.household_id)
        evidence.key_holders = key_holders(conn, incident.household_id)
    if layout == "fire":
        evidence.building_devices = building_detectors(conn, incident.household_id)
        evidence.key_holders = key_holders(conn, incident.household_id)
    if layout == "trouble":
        evidence.history = history(conn, ids, lang, tz)
        evidence.hooks["replacements"] = [f"/api/devices/{i}/history" for i in ids]
    return evidence
