"""A partition's detector stage watches only its sites: their devices and their gateways'
status. Watching all would raise the other partitions' devices as offline (their readings go
elsewhere) and every gateway alert once per stage."""

from __future__ import annotations

import time
import uuid

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim.district import build_district, seed
from ingest.consumer import BrokerConfig
from ingest.detection.stage import DetectorStage
from ingest.gateway_status import GatewayStatusFollower
from tests.fix_pipeline import clear_gateway_status
from vigil.codec import GatewayStatus, encode
from vigil.settings import Settings
from vigil.topics import Topic

pytestmark = pytest.mark.stack


def test_a_partitions_stage_watches_only_its_sites_devices_and_gateways(
    migrated_db: str, settings: Settings
) -> None:
    district = build_district(7, 21, 6)  # 20 gateways per site: two sites
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        seed(conn, district)
    ours, theirs = (s.id for s in district.sites[:2])
    site_of = {g.id: g.site_id for g in district.gateways}
    broker = BrokerConfig(
        "127.0.0.1",
        settings.stack_mqtt_port,
        settings.mqtt_username,
        settings.mqtt_password.get_secret_value(),
        client_id=f"t-{uuid.uuid4().hex[:8]}",
        receive_window=10,
        session_expiry_s=0,
    )
    # Other tests' gateways of the same seeded district may have left a retained "offline".
    clear_gateway_status(settings, [(g.site_id, g.id) for g in district.gateways])
    stage = DetectorStage(migrated_db, sites={ours}.__contains__)
    follower = GatewayStatusFollower(broker, owns=lambda site: True)  # a worker owning both
    follower.subscribe(stage.on_gateway_status)
    stage.start()
    follower.start()
    try:
        watched = [d for d in district.devices if d.household_id is not None]
        expected = {d.id for d in watched if site_of[d.gateway_id] == ours}
        deadline = time.monotonic() + 30
        while set(stage.engine.registry.slot_of) != expected:
            assert time.monotonic() < deadline, "the stage did not load its sites' devices"
            time.sleep(0.05)
        assert expected
        assert expected < {d.id for d in watched}
        # Both gateways go offline; only ours is this stage's to report.
        mine = next(g for g in district.gateways if g.site_id == ours)
        other = next(g for g in district.gateways if g.site_id == theirs)
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.username_pw_set(settings.mqtt_username, settings.mqtt_password.get_secret_value())
        client.connect("127.0.0.1", settings.stack_mqtt_port)
        client.loop_start()
        try:
            deadline = time.monotonic() + 30
            while stage.alerts_written == 0:  # until the stage's subscription is in place
                assert time.monotonic() < deadline, "no gateway alert"
                for gw in (other, mine):  # in this order: theirs reaches the stage first
                    status = GatewayStatus(gw=gw.id, state="offline", ts=time.time())
                    topic = str(Topic.status(gw.site_id, gw.id))
                    client.publish(topic, encode(status), qos=1).wait_for_publish(5)
                time.sleep(0.3)
        finally:
            client.loop_stop()
            client.disconnect()
    finally:
        follower.close()
        stage.stop()
    with psycopg.connect(migrated_db, autocommit=True) as conn:
        rows = conn.execute("select device_id from alerts where kind = 'gateway_offline'")
        assert [r[0] for r in rows] == [mine.id]
