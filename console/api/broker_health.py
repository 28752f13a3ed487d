"""The broker's queue health for the device-health page (written by ingest/broker_watch.py)."""

from __future__ import annotations

# Shedding: the broker dropped messages within the last hour.
BROKER_HEALTH_SQL = b"""
select broker, dropped, store_bytes, last_drop_at,
       coalesce(last_drop_at > now() - interval '1 hour', false) as shedding
from broker_health order by broker
"""
