"""States foreign devices declare themselves: raised once, restored once; a test is no fire."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.alert import Alert
from detectors.codes import (
    BATTERY_LOW,
    CO_ALARM,
    GAS,
    HEAT,
    PANIC,
    RAISE,
    SENSOR_FAULT,
    SMOKE_ALARM,
    WATER_LEAK,
)
from detectors.engine import DetectorEngine
from detectors.policy import Policy
from detectors.registry import Device
from tests.detectors.helpers import (
    Row,
    assert_same_events,
    batch_of,
    kernel_and_naive,
    rows_of,
)

EPOCH = 1_763_740_800.0
FOREIGN = [
    Device("zb-smoke", "smoke_alarm", "hh-1", "kitchen", building_id="b-1", supervision_s=3600.0),
    Device("zb-co", "co_alarm", "hh-1", "hall", gateway_id="z2m-1", supervision_s=7200.0),
    Device("zb-gas", "gas_alarm", "hh-2", "kitchen", building_id="b-1"),
    Device("zb-sos", "sos", "hh-2", "bedroom", supervision_s=86400.0),
    Device("zb-pir", "pir", "hh-2", "living", supervision_s=3600.0),
    Device("zb-leak", "water_alarm", "hh-1", "bath"),
]
DECLARED = [
    "smoke_alarm",
    "heat_alarm",
    "co_alarm",
    "gas_alarm",
    "water_leak",
    "low_battery",
    "fault",
    "availability",
    "tamper",
    "self_test",
    "button",
    "motion",
    "battery_pct",
    "link_quality",
]


@st.composite
def declared_streams(draw: st.DrawFn) -> tuple[list[Row], list[float]]:
    t = EPOCH
    readings = []
    for _ in range(draw(st.integers(1, 60))):
        t += draw(st.one_of(st.just(0.0), st.floats(0.5, 600.0), st.floats(3600.0, 90_000.0)))
        metric = draw(st.sampled_from(DECLARED))
        value = draw(st.sampled_from([0.0, 1.0, 1.0, 0.0, 0.5, 2.0, 87.0, float("nan")]))
        readings.append((t, draw(st.integers(0, len(FOREIGN) - 1)), metric, value))
    rows = rows_of(readings)
    ticks = sorted(draw(st.lists(st.floats(0.0, 200_000.0), max_size=3)))
    return rows, [rows[-1][4] + dt for dt in ticks]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(declared_streams())
def test_kernels_match_reference_on_declared_states(stream: tuple[list[Row], list[float]]) -> None:
    rows, ticks = stream
    kernel, naive = kernel_and_naive(FOREIGN, rows, ticks)
    assert_same_events(kernel, naive)


def _alerts(
    readings: list[tuple[float, int, str, float]], ticks: tuple[float, ...] = ()
) -> list[Alert]:
    engine = DetectorEngine(FOREIGN)
    alerts = engine.process(batch_of(rows_of(readings)))
    for now in ticks:
        alerts += engine.tick(now)
    return alerts


def _raised(readings: list[tuple[float, int, str, float]]) -> list[tuple[int, int, int]]:
    kernel, _ = kernel_and_naive(FOREIGN, rows_of(readings))
    return [(e.slot, e.kind, e.action) for e in kernel]


def test_each_declared_alarm_raises_its_kind_once_and_its_restoral_clears_it() -> None:
    cases = [
        ("smoke_alarm", 0, SMOKE_ALARM),
        ("heat_alarm", 0, HEAT),
        ("co_alarm", 1, CO_ALARM),
        ("gas_alarm", 2, GAS),
        ("water_leak", 5, WATER_LEAK),
        ("low_battery", 3, BATTERY_LOW),
        ("fault", 4, SENSOR_FAULT),
    ]
    for metric, slot, kind in cases:
        readings = [(EPOCH + i, slot, metric, v) for i, v in enumerate([1.0, 1.0, 1.0, 0.0, 0.0])]
        assert _raised(readings) == [(slot, kind, 1), (slot, kind, 0)], metric


def test_a_restoral_reaches_the_board_as_a_restored_alert() -> None:
    alerts = _alerts([(EPOCH, 0, "smoke_alarm", 1.0), (EPOCH + 30, 0, "smoke_alarm", 0.0)])
    assert [(a.kind, a.signal, a.rule) for a in alerts] == [
        ("smoke", "alarm", "device_declared"),
        ("smoke", "alarm", "restored"),
    ]
    assert alerts[1].evidence["restoral"] is True
    assert alerts[0].reason.startswith("the device declared it")


def test_a_self_test_is_never_a_fire() -> None:
    readings = [(EPOCH + i, 0, "self_test", 1.0) for i in range(5)]
    assert _alerts(readings) == []


def test_availability_offline_raises_offline_once_and_online_restores_it() -> None:
    readings = [
        (EPOCH, 1, "availability", 1.0),
        (EPOCH + 10, 1, "availability", 0.0),
        (EPOCH + 20, 1, "availability", 0.0),
    ]
    alerts = _alerts(readings, ticks=(EPOCH + 100_000,))
    kinds = [(a.kind, a.rule) for a in alerts if a.device_id == "zb-co"]
    # The tick long after does not raise it again: it is raised already.
    assert kinds == [("offline", "device_declared")]
    back = _alerts([*readings, (EPOCH + 30, 1, "availability", 1.0)])
    assert [(a.kind, a.rule) for a in back if a.device_id == "zb-co"] == [
        ("offline", "device_declared"),
        ("offline", "restored"),
    ]


def test_supervision_interval_replaces_the_heartbeat() -> None:
    policy = Policy.load()
    own = policy.figures("smoke_alarm", "hh-1")["offline_after_s"]
    mine = policy.figures("smoke_alarm", "hh-1", supervision_s=3600.0)["offline_after_s"]
    assert mine < own
    engine = DetectorEngine(FOREIGN)
    engine.process(batch_of(rows_of([(EPOCH, 0, "battery_pct", 80.0)])))
    silent = [a for a in engine.tick(EPOCH + mine + 1) if a.device_id == "zb-smoke"]
    assert [a.kind for a in silent] == ["offline"]


def test_a_panic_press_from_a_foreign_button_raises_panic() -> None:
    assert _raised([(EPOCH, 3, "button", 1.0)]) == [(3, PANIC, RAISE)]


def test_a_gateway_repeating_its_online_status_does_not_undo_a_declared_offline() -> None:
    engine = DetectorEngine(FOREIGN)
    readings = [(EPOCH, 1, "availability", 1.0), (EPOCH + 10, 1, "availability", 0.0)]
    alerts = engine.process(batch_of(rows_of(readings)))
    for k in range(3):  # the hub's adapter says "online" every few seconds
        alerts += engine.gateway_status("z2m-1", online=True, ts=EPOCH + 11 + k)
    alerts += engine.process(batch_of(rows_of([(EPOCH + 20, 1, "availability", 1.0)])))
    mine = [(a.kind, a.rule) for a in alerts if a.device_id == "zb-co"]
    assert mine == [("offline", "device_declared"), ("offline", "restored")]


def test_a_device_its_hub_says_is_unreachable_stays_offline_when_the_hub_comes_back() -> None:
    engine = DetectorEngine(FOREIGN)
    alerts = engine.process(batch_of(rows_of([(EPOCH + 10, 1, "availability", 0.0)])))
    alerts += engine.gateway_status("z2m-1", online=False, ts=EPOCH + 20)
    alerts += engine.gateway_status("z2m-1", online=True, ts=EPOCH + 30)  # the hub restarted
    alerts += engine.tick(EPOCH + 100_000)  # still unreachable: no second offline
    alerts += engine.process(batch_of(rows_of([(EPOCH + 100_001, 1, "availability", 1.0)])))
    mine = [(a.kind, a.rule) for a in alerts if a.device_id == "zb-co"]
    assert mine == [("offline", "device_declared"), ("offline", "restored")]
    assert ("gateway_offline", "gateway_status") in [(a.kind, a.rule) for a in alerts]
