"""`households.away_until` in the live detector stage: a household marked away gets no
inactivity alert; when its away period ends (or is cleared), supervision resumes from then."""

from __future__ import annotations

import time
import tomllib
from importlib import resources

import numpy as np
import psycopg
import pytest

from detectors.policy import Policy
from firmware_sim.district import Device, District, build_district, seed
from ingest.columns import Readings
from ingest.detection.stage import DetectorStage
from ingest.registry import Registry, RegistrySnapshot
from ingest.sink import ReadingBatch
from vigil.db.migrate import migrate
from vigil.db.timescale import configure, retention_for
from vigil.device_types import METRIC_CODE
from vigil.harness import wait_for
from vigil.settings import Settings

pytestmark = pytest.mark.stack

SILENCE_S = 3.0  # inactivity after this much silence, so the test runs in seconds


def short_silences() -> Policy:
    """The bundled policy with an inactivity check after SILENCE_S of silence."""
    raw = tomllib.loads(resources.files("detectors").joinpath("policy.toml").read_text("utf-8"))
    raw["defaults"].update(
        inactivity_min_silence_s=SILENCE_S,
        inactivity_max_silence_s=SILENCE_S + 0.5,
        infer_away=0.0,
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


def inactivity(dsn: str) -> dict[str, float]:
    """Household -> device time of its first inactivity alert."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "select household_id, min(extract(epoch from ts))::float8 from alerts "
            "where kind = 'inactivity' group by household_id"
        ).fetchall()
    return {str(h): float(t) for h, t in rows}


@pytest.fixture
def district_db(fresh_db: str, settings: Settings) -> tuple[str, District]:
    district = build_district(7, 2, 20)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        migrate(conn)
        configure(conn, retention_for(settings))
        seed(conn, district)
    return fresh_db, district


def test_away_households_get_no_inactivity_alert_until_away_ends(
    district_db: tuple[str, District],
) -> None:
    dsn, district = district_db
    pirs: dict[str, Device] = {}
    for d in district.devices:
        if d.type == "pir" and d.household_id and d.household_id not in pirs:
            pirs[d.household_id] = d
    assert len(pirs) >= 3, "the district has three households with a PIR"
    watched, expiring, cleared = list(pirs.values())[:3]
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
