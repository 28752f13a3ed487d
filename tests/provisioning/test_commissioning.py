"""Commissioning decisions: which hop a test signal stopped at, and when it passed."""

from __future__ import annotations

from vigil.provisioning.commissioning import (
    DeviceFacts,
    GatewayFacts,
    Seen,
    StatusFacts,
    Stop,
    precheck,
    verdict,
)

DEV = DeviceFacts(id="pb-1", device_type="panic", gateway_id="gw-1", retired=False)
GW = GatewayFacts(id="gw-1", site_id="s1", revoked=False, retired=False, db_status="unknown")
ONLINE = StatusFacts(state="online", ts=1.0)


def test_prechecks_name_the_first_missing_link() -> None:
    assert precheck(None, None, None, "pb-9") == (
        Stop.UNKNOWN_DEVICE,
        "device pb-9 is not registered",
    )
    retired = DeviceFacts(**{**DEV.__dict__, "retired": True})
    assert precheck(retired, GW, ONLINE, "pb-1") == (Stop.UNKNOWN_DEVICE, "device pb-1 is retired")
    assert precheck(DEV, None, None, "pb-1") == (
        Stop.NO_GATEWAY,
        "device pb-1 has no registered gateway",
    )
    revoked = GatewayFacts(**{**GW.__dict__, "revoked": True})
    assert precheck(DEV, revoked, ONLINE, "pb-1") == (Stop.NO_GATEWAY, "gateway gw-1 is revoked")
    assert precheck(DEV, GW, None, "pb-1") == (
        Stop.GATEWAY_OFFLINE,
        "gateway gw-1 has never connected to the broker",
    )
    offline = StatusFacts(state="offline", ts=1.0)
    assert precheck(DEV, GW, offline, "pb-1") is not None
    assert precheck(DEV, GW, offline, "pb-1")[0] is Stop.GATEWAY_OFFLINE  # type: ignore[index]
    assert precheck(DEV, GW, ONLINE, "pb-1") is None


def test_nothing_seen_waits_then_says_nothing_received() -> None:
    assert verdict(Seen(), timed_out=False) is None
    v = verdict(Seen(), timed_out=True)
    assert v is not None
    assert not v.passed
    assert v.stop is Stop.NOTHING_RECEIVED


def test_dead_letters_are_named_in_the_failure() -> None:
    seen = Seen(dead_letters=[{"reason": "wrong_gateway"}, {"reason": "wrong_gateway"}])
    v = verdict(seen, timed_out=True)
    assert v is not None
    assert v.message == "no signal from the device; dead-lettered by ingest: wrong_gateway"


def test_seen_by_the_broker_but_not_stored_blames_ingest() -> None:
    seen = Seen(kind="self_test", value=1.0, device_ts=1.0, gateway_rx=1.01, broker_at=1.02)
    assert verdict(seen, timed_out=False) is None
    v = verdict(seen, timed_out=True)
    assert v is not None
    assert v.stop is Stop.NOT_STORED


def test_a_passing_self_test_passes_once_stored() -> None:
    seen = Seen(kind="self_test", value=1.0, device_ts=1.0, gateway_rx=1.01, broker_at=1.03,
                stored_at=1.05)  # fmt: skip
    v = verdict(seen, timed_out=False)
    assert v is not None
    assert v.passed
    assert seen.latency_ms() == 50.0
    assert seen.hops_ms() == {"device→gateway": 10.0, "gateway→broker": 20.0, "broker→stored": 20.0}


def test_a_press_needs_the_detectors_alert_too() -> None:
    seen = Seen(kind="button", value=1.0, device_ts=1.0, gateway_rx=1.0, broker_at=1.0,
                stored_at=1.1)  # fmt: skip
    assert verdict(seen, timed_out=False) is None
    v = verdict(seen, timed_out=True)
    assert v is not None
    assert v.stop is Stop.NO_ALERT
    seen.alert_at, seen.alert_kind = 1.2, "panic"
    v = verdict(seen, timed_out=False)
    assert v is not None
    assert v.passed
    assert v.message == "button signal stored and alert panic"
    assert seen.latency_ms() == 200.0
