"""Absences in the live detector stage: a household marked away (`households.away_until`) or
whose alarm panel is armed away gets no inactivity alert; when the absence ends (cleared, over,
disarmed, or past the household's away_max_s), supervision resumes from then."""

from __future__ import annotations

import time
import tomllib
from importlib import resources

import numpy as np
import psycopg
import pytest

from detectors.policy import Policy
from firmware_sim.district import Device, District, build_district, seed
from ingest.columns import EMPTY, Readings
from ingest.detection.stage import DetectorStage
from ingest.registry import Registry, RegistrySnapshot
from ingest.sink import ReadingBatch
from ingest.validate import EventRow
from vigil.device_types import METRIC_CODE
from vigil.harness import wait_for

pytestmark = pytest.mark.stack

SILENCE_S = 3.0  # inactivity after this much silence, so the test runs in seconds
AWAY_MAX_S = 6.0  # and a panel's absence lasts at most this long


def short_silences() -> Policy:
    """The bundled policy with an inactivity check after SILENCE_S of silence."""
    raw = tomllib.loads(resources.files("detectors").joinpath("policy.toml").read_text("utf-8"))
    raw["defaults"].update(
        inactivity_min_silence_s=SILENCE_S,
        inactivity_max_silence_s=SILENCE_S + 0.5,
        infer_away=0.0,
        away_max_s=AWAY_MAX_S,
    )
    return Policy.from_dict(raw, "short silences")


def motion(snapshot: RegistrySnapshot, device: Device, ts: float) -> ReadingBatch:
    slot = snapshot.device_slot[device.id]
    readings = Readings(
        np.array([slot], np.int32),
        np.array([METRIC_CODE["motion"]], np.int32),
        np.array([int(ts * 1000)], np.int64),
        np.array([ts]),
        np.array([ts]),
        np.array([1.0]),
    )
    return ReadingBatch(device.gateway_id, int(ts * 1000), ts, False, snapshot, readings, ())


def panel_said(
    snapshot: RegistrySnapshot, panel: str, gateway: str, ts: float, home: bool
) -> ReadingBatch:
    """A DC-09 panel's presence event as ingest hands it over: 0 armed away, 1 disarmed."""
    event = EventRow(
        snapshot.device_slot[panel], panel, int(ts * 1000), ts, ts, "presence", float(home), b"{}"
    )
    return ReadingBatch(gateway, int(ts * 1000) + 1, ts, False, snapshot, EMPTY, (event,))


def add_panels(conn: psycopg.Connection, homes: list[Device]) -> dict[str, str]:
    """An alarm panel in each of these households (behind the PIR's gateway): household -> id."""
    panels = {}
    for pir in homes:
        panel = f"{pir.household_id}-panel"
        conn.execute(
            "insert into devices (id, device_type, gateway_id, household_id, room) "
            "values (%s, 'alarm_panel', %s, %s, 'entrance')",
            (panel, pir.gateway_id, pir.household_id),
        )
        panels[str(pir.household_id)] = panel
    return panels


def inactivity(dsn: str) -> dict[str, float]:
    """Household -> device time of its first inactivity alert."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "select household_id, min(extract(epoch from ts))::float8 from alerts "
            "where kind = 'inactivity' group by household_id"
        ).fetchall()
    return {str(h): float(t) for h, t in rows}


@pytest.fixture
def district_db(migrated_db: str) -> tuple[str, District]:
    district = build_district(7, 2, 20)
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        seed(conn, district)
    return migrated_db, district


def test_away_households_get_no_inactivity_alert_until_away_ends(
    district_db: tuple[str, District],
) -> None:
    dsn, district = district_db
    pirs = pirs_of(district)
    assert len(pirs) >= 3, "the district has three households with a PIR"
    watched, expiring, cleared = pirs[:3]
    with psycopg.connect(dsn, autocommit=True) as conn:
        # Only these three households are supervised in this test: the others have no PIR read.
        conn.execute(
            "update households set away_until = now() + interval '6 seconds' where id = %s",
            (expiring.household_id,),
        )
        conn.execute(
            "update households set away_until = now() + interval '1 hour' where id = %s",
            (cleared.household_id,),
        )
        registry = Registry()
        snapshot = registry.load(conn)
        away_ends = conn.execute(
            "select extract(epoch from away_until)::float8 from households where id = %s",
            (expiring.household_id,),
        ).fetchone()
    assert away_ends is not None
    stage = DetectorStage(dsn, policy=short_silences(), tick_s=0.2)
    stage.start()
    try:
        started = time.time()
        for device in (watched, expiring, cleared):
            stage.submit(motion(snapshot, device, started))
        wait_for(lambda: watched.household_id in inactivity(dsn), 15, "the watched alert")
        assert set(inactivity(dsn)) == {watched.household_id}, "away: no inactivity alert"

        # Away ends by itself: the silence counts from its end.
        found = wait_for(
            lambda: inactivity(dsn).get(str(expiring.household_id)), 20, "the alert after away"
        )
        assert found >= float(away_ends[0]) + SILENCE_S - 0.01

        # Away cleared in the registry: the stage follows the change with the next batch.
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "update households set away_until = null where id = %s", (cleared.household_id,)
            )
            snapshot = registry.load(conn)
        assert str(cleared.household_id) not in inactivity(dsn)
        resumed = time.time()
        stage.submit(motion(snapshot, watched, resumed))  # any batch carries the new version
        found = wait_for(
            lambda: inactivity(dsn).get(str(cleared.household_id)), 15, "the alert after clearing"
        )
        assert found >= resumed + SILENCE_S - 1.0
    finally:
        stage.stop()


def pirs_of(district: District) -> list[Device]:
    """One PIR from each household that has one."""
    pirs: dict[str, Device] = {}
    for d in district.devices:
        if d.type == "pir" and d.household_id and d.household_id not in pirs:
            pirs[d.household_id] = d
    return list(pirs.values())


def test_a_panel_armed_away_pauses_the_checks_until_disarmed_or_its_ceiling(
    district_db: tuple[str, District],
) -> None:
    dsn, district = district_db
    watched, disarmed, never = pirs_of(district)[:3]
    with psycopg.connect(dsn, autocommit=True) as conn:
        panels = add_panels(conn, [disarmed, never])
        snapshot = Registry().load(conn)
    stage = DetectorStage(dsn, policy=short_silences(), tick_s=0.2)
    stage.start()
    try:
        armed = time.time()
        for device in (watched, disarmed, never):
            stage.submit(motion(snapshot, device, armed))
        for pir in (disarmed, never):
            h = str(pir.household_id)
            stage.submit(panel_said(snapshot, panels[h], pir.gateway_id, armed, home=False))
        wait_for(lambda: watched.household_id in inactivity(dsn), 15, "the watched alert")
        assert set(inactivity(dsn)) == {watched.household_id}, "armed away: no check"

        # Disarmed: someone is home, the silence counts from the disarm.
        back = time.time()
        h = str(disarmed.household_id)
        stage.submit(panel_said(snapshot, panels[h], disarmed.gateway_id, back, home=True))
        # A redelivered arming from before the disarm changes nothing.
        stage.submit(panel_said(snapshot, panels[h], disarmed.gateway_id, armed, home=False))
        found = wait_for(lambda: inactivity(dsn).get(h), 15, "the alert after the disarm")
        assert found >= back + SILENCE_S - 0.01

        # Never disarmed: the absence ends at away_max_s after the arming, and the checks resume.
        h = str(never.household_id)
        found = wait_for(lambda: inactivity(dsn).get(h), 20, "the alert past the ceiling")
        assert found >= armed + AWAY_MAX_S + SILENCE_S - 0.01
    finally:
        stage.stop()


def test_a_stage_started_after_the_arming_reads_it_from_the_stored_events(
    district_db: tuple[str, District],
) -> None:
    dsn, district = district_db
    watched, away = pirs_of(district)[:2]
    with psycopg.connect(dsn, autocommit=True) as conn:
        panel = add_panels(conn, [away])[str(away.household_id)]
        snapshot = Registry().load(conn)
        armed = conn.execute(
            "insert into device_events (time, device_id, kind, value, seq, gateway_ts) "
            "values (now(), %s, 'presence', 0, 1, now()) "
            "returning extract(epoch from time)::float8",
            (panel,),
        ).fetchone()
    assert armed is not None
    stage = DetectorStage(dsn, policy=short_silences(), tick_s=0.2)
    stage.start()
    try:
        started = time.time()
        for device in (watched, away):
            stage.submit(motion(snapshot, device, started))
        wait_for(lambda: watched.household_id in inactivity(dsn), 15, "the watched alert")
        assert str(away.household_id) not in inactivity(dsn), "armed before the start: away"
        found = wait_for(
            lambda: inactivity(dsn).get(str(away.household_id)), 20, "the alert past the ceiling"
        )
        assert found >= float(armed[0]) + AWAY_MAX_S + SILENCE_S - 0.01
    finally:
        stage.stop()
