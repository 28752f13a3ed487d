"""The naive pipeline the benchmark compares against, the way most small projects write it.

paho's callback decodes each message and runs one INSERT per reading, then commits once per
message (kinder than autocommit per row) and lets paho acknowledge as the callback returns.
It has no deduplication, no dead letters, and acknowledges what it has not stored if it fails:
it is here for speed only. It writes the wide row most projects would (device and metric as
text, seq as bigint, two timestamps, a (device_id, time) B-tree): Vigil's own `readings` is a
view over the narrow `reading_rows` since migration 0021, and a row-by-row trigger on it would
slow the baseline for a reason no naive project has.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.loadgen import broker_port
from vigil.codec import TelemetryBatch, decode_telemetry
from vigil.settings import Settings
from vigil.topics import uplink_filter

NAIVE_TABLE = "naive_readings"
_CREATE = f"""
create table if not exists {NAIVE_TABLE} (
    time timestamptz not null, device_id text not null, metric text not null,
    value double precision not null, seq bigint not null, gateway_ts timestamptz not null
);
select create_hypertable('{NAIVE_TABLE}', by_range('time', interval '1 day'),
                         if_not_exists => true);
create index if not exists {NAIVE_TABLE}_device_time on {NAIVE_TABLE} (device_id, time desc);
"""
_INSERT = (
    "insert into naive_readings (time, device_id, metric, value, seq, gateway_ts) "
    "values (%s, %s, %s, %s, %s, %s)"
)


def create_naive_table(dsn: str) -> None:
    """The naive pipeline's table, made before it starts (the bench counts its rows)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(_CREATE.encode())


def run_naive(settings: Settings, dsn: str, client_id: str, stop: Any) -> None:
    """Subscribe and insert until `stop` (a multiprocessing Event) is set."""
    conn = psycopg.connect(dsn)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.username_pw_set(settings.mqtt_username, settings.mqtt_password.get_secret_value())

    def on_connect(c: mqtt.Client, *_: Any) -> None:
        c.subscribe(uplink_filter(), qos=1)

    def on_message(c: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        batch: TelemetryBatch = decode_telemetry(bytes(msg.payload))
        with conn.cursor() as cur:
            for i in range(len(batch)):
                cur.execute(
                    _INSERT,
                    (
                        datetime.fromtimestamp(batch.ts[i], UTC),
                        batch.dev[i],
                        batch.metric[i],
                        batch.value[i],
                        batch.seq[i],
                        datetime.fromtimestamp(batch.rx[i], UTC),
                    ),
                )
        conn.commit()

    client.on_connect = on_connect
    client.on_message = on_message
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 300
    client.connect(settings.mqtt_host, broker_port(settings), clean_start=True, properties=props)
    client.loop_start()
    while not stop.wait(0.2):
        pass
    client.disconnect()
    client.loop_stop()
    conn.close()
