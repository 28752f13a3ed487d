"""Metric definitions: names, groups, hop latencies, heartbeats."""

from __future__ import annotations

import pytest

from vigil.observability import (
    ALARM_HOPS,
    ALERTING,
    GROUPS,
    Heartbeat,
    observe_hop,
    registry_for,
)


def test_exported_names_carry_the_vigil_prefix_and_are_unique() -> None:
    seen: set[str] = set()
    for group in GROUPS:
        for metric in group.metrics:
            for family in metric.collect():
                assert family.name.startswith("vigil_"), family.name
                assert family.name not in seen, family.name
                seen.add(family.name)
    agreed = {  # family names; counters are exported with `_total` appended
        "vigil_ingest_messages",
        "vigil_ingest_readings",
        "vigil_ingest_dead_letters",
        "vigil_ingest_commit_seconds",
        "vigil_ingest_lag_seconds",
        "vigil_gateway_queue_depth",
        "vigil_gateway_dropped_telemetry",
        "vigil_detector_readings",
        "vigil_detector_alerts",
        "vigil_incidents",
        "vigil_notifications_failed",
        "vigil_alarm_hop_latency_seconds",
    }
    assert agreed <= seen, agreed - seen


def test_a_hop_is_observed_in_its_histogram() -> None:
    registry = registry_for(ALERTING, process=False)
    key = ("vigil_alarm_hop_latency_seconds_count", {"hop": "commit_to_alert"})
    before = registry.get_sample_value(*key) or 0.0
    observe_hop("commit_to_alert", 0.004)
    assert registry.get_sample_value(*key) == before + 1
    under_5ms = registry.get_sample_value(
        "vigil_alarm_hop_latency_seconds_bucket", {"hop": "commit_to_alert", "le": "0.005"}
    )
    assert under_5ms is not None
    assert under_5ms >= 1


def test_a_negative_hop_counts_as_clock_skew() -> None:
    registry = registry_for(ALERTING, process=False)
    count = ("vigil_alarm_hop_latency_seconds_count", {"hop": "device_to_gateway"})
    skew = ("vigil_alarm_hop_clock_skew_total", {"hop": "device_to_gateway"})
    before = (registry.get_sample_value(*count) or 0.0, registry.get_sample_value(*skew) or 0.0)
    observe_hop("device_to_gateway", -0.3)
    assert (registry.get_sample_value(*count) or 0.0) == before[0]
    assert registry.get_sample_value(*skew) == before[1] + 1


def test_an_unknown_hop_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown alarm hop 'ingest_to_comit'"):
        observe_hop("ingest_to_comit", 0.1)
    assert "end_to_end" in ALARM_HOPS


def test_a_heartbeat_fails_when_its_loop_stalls() -> None:
    now = [100.0]
    beat = Heartbeat("commit loop", max_age_s=5.0, clock=lambda: now[0])
    assert beat.check() == "commit loop has not started"
    beat.beat()
    now[0] = 104.9
    assert beat.check() is None
    now[0] = 106.0
    assert beat.check() == "commit loop last turned 6.0 s ago (limit 5 s)"
    beat.beat()
    assert beat.check() is None
