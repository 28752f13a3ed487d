"""From pushes to events: states change once, retries are read once, supervision, dead letters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.platforms import fake
from gateway.platforms.profiles import ProfileError, Profiles, parse_profile
from gateway.platforms.pushes import parse_ctwing
from gateway.platforms.receiver import DeviceEntry, Outcome, Receiver, Result
from gateway.platforms.state import State
from tests.gateway.platforms.corpus import LIAN_SMOKE
from tests.gateway.platforms.helpers import LIAN_ID, LIAN_IMEI, receiver

T0 = 1_800_000_000.0


def lian(status: int, t: float, **extra: object) -> bytes:
    data = {"Alarm_Status": status, "Battery_Level": 90, "RSRP": 100, "SNR": 3, **extra}
    return fake.ctwing_body(fake.ctwing_data(LIAN_IMEI, LIAN_ID, "15014772", data, t=t))


def kinds(outcome: Outcome) -> list[tuple[str, float]]:
    return [(e.kind, e.value) for e in outcome.events]


def take(rx: Receiver, body: bytes, now: float) -> Outcome:
    out = rx.take("acct", parse_ctwing(body, now), body, now)
    if out.result is Result.STAGED:
        rx.state.accepted(out.outbox_id, parse_ctwing(body, now).key)
    return out


def test_captured_heartbeat_sets_baseline_and_readings(tmp_path: Path) -> None:
    rx = receiver(tmp_path)
    out = take(rx, LIAN_SMOKE, 1606982320.5)  # received when it was captured
    assert out.result is Result.STAGED
    assert out.events == []
    got = {r.metric: r.value for r in out.readings}
    assert got == {"battery_pct": 100.0, "rsrp": -114.0, "snr": 1.0, "csq": 5.0}


def test_alarm_then_restoral_once_each(tmp_path: Path) -> None:
    rx = receiver(tmp_path)
    take(rx, lian(7, T0), T0)  # normal: baseline, nothing raised
    alarm = take(rx, lian(1, T0 + 1), T0 + 1)
    assert kinds(alarm) == [("smoke_alarm", 1.0)]
    assert alarm.events[0].detail["source"] == "ctwing"
    assert alarm.events[0].detail["model"] == "lian-nb-smoke"
    assert alarm.events[0].detail["code"] == "Alarm_Status=1"
    assert kinds(take(rx, lian(1, T0 + 2), T0 + 2)) == []  # still in alarm: nothing new
    assert kinds(take(rx, lian(7, T0 + 3), T0 + 3)) == [("smoke_alarm", 0.0)]


def test_retry_is_read_once(tmp_path: Path) -> None:
    rx = receiver(tmp_path)
    body = lian(1, T0)
    assert take(rx, body, T0).result is Result.STAGED
    reordered = json.dumps(dict(reversed(list(json.loads(body).items())))).encode()
    assert take(rx, reordered, T0 + 5).result is Result.DUPLICATE


def test_pending_retry_is_not_staged_twice(tmp_path: Path) -> None:
    rx = receiver(tmp_path)
    body = lian(14, T0)
    first = rx.take("acct", parse_ctwing(body, T0), body, T0)
    assert kinds(first) == [("self_test", 1.0)]
    assert rx.take("acct", parse_ctwing(body, T0), body, T0 + 1).result is Result.PENDING


def test_state_survives_a_restart(tmp_path: Path) -> None:
    rx = receiver(tmp_path)
    take(rx, lian(7, T0), T0)
    take(rx, lian(10, T0 + 1), T0 + 1)
    rx.state.close()
    rx = receiver(tmp_path)
    assert kinds(take(rx, lian(10, T0 + 2), T0 + 2)) == []  # tamper still on: not raised again
    out = take(rx, lian(11, T0 + 3), T0 + 3)
    assert kinds(out) == [("tamper", 0.0)]
    assert out.events[0].seq > 1  # sequence numbers go on from where they were


def test_same_field_name_opposite_meanings(tmp_path: Path) -> None:
    rx = receiver(tmp_path)
    body = fake.ctwing_body(fake.ctwing_data("861111111111111", "inv-dev", "inv-1",
                                             {"smoke_state": 0}, t=T0))  # fmt: skip
    assert kinds(take(rx, body, T0)) == [("smoke_alarm", 1.0)]


def test_unknown_value_is_a_dead_letter_and_the_rest_goes_on(tmp_path: Path) -> None:
    rx = receiver(tmp_path)
    take(rx, lian(7, T0), T0)
    out = take(rx, lian(99, T0 + 1), T0 + 1)
    assert out.result is Result.STAGED
    assert out.readings
    (dead,) = rx.state.dead_letters()
    assert dead[3] == "unreadable"
    assert "Alarm_Status=99" in dead[4]


def test_unknown_device_and_product(tmp_path: Path) -> None:
    rx = receiver(tmp_path)
    body = fake.ctwing_body(fake.ctwing_data("869999999999999", "zz", "15014772", {"x": 1}, t=T0))
    assert take(rx, body, T0).result is Result.DEAD
    assert [d[3] for d in rx.state.dead_letters()] == ["unknown_device"]


def test_transparent_frame_without_decoder_is_dead_lettered(tmp_path: Path) -> None:
    rx = receiver(tmp_path)
    body = fake.ctwing_body(fake.ctwing_appdata(LIAN_IMEI, LIAN_ID, "15014772", b"\x01\x02", t=T0))
    assert take(rx, body, T0).result is Result.DEAD
    assert "transparent frame" in rx.state.dead_letters()[0][4]


def test_heartbeats_then_silence_then_back(tmp_path: Path) -> None:
    rx = receiver(tmp_path)
    body = fake.ctwing_body(fake.ctwing_data("861111111111111", "inv-dev", "inv-1",
                                             {"smoke_state": 1}, t=T0))  # fmt: skip
    take(rx, body, T0)
    assert rx.supervise(T0 + 2.4) == []  # within 2 s + 0.5 s slack
    ((_id, _key, (offline,)),) = rx.supervise(T0 + 2.6)
    assert (offline.kind, offline.value) == ("availability", 0.0)
    assert offline.detail["reason"] == "missed_heartbeat"
    assert rx.supervise(T0 + 10) == []  # raised once
    back = fake.ctwing_body(fake.ctwing_data("861111111111111", "inv-dev", "inv-1",
                                             {"smoke_state": 1}, t=T0 + 11))  # fmt: skip
    assert kinds(take(rx, back, T0 + 11)) == [("availability", 1.0)]


def test_platform_online_offline(tmp_path: Path) -> None:
    rx = receiver(tmp_path)
    online = fake.ctwing_body(fake.ctwing_online(LIAN_ID, "15014772", online=True, t=T0))
    assert kinds(take(rx, online, T0)) == []  # first word: online is the baseline
    offline = fake.ctwing_body(fake.ctwing_online(LIAN_ID, "15014772", online=False, t=T0 + 1))
    assert kinds(take(rx, offline, T0 + 1)) == [("availability", 0.0)]
    online2 = fake.ctwing_body(fake.ctwing_online(LIAN_ID, "15014772", online=True, t=T0 + 2))
    assert kinds(take(rx, online2, T0 + 2)) == [("availability", 1.0)]


def test_forget_after_the_retry_horizon(tmp_path: Path) -> None:
    state = State(tmp_path / "s.sqlite", remember_s=100)
    with state.transaction() as txn:
        txn.mark("k", T0, accepted=True)
    assert state.forget(T0 + 50) == 0
    assert state.seen("k") is True
    assert state.forget(T0 + 101) == 1
    assert state.seen("k") is None


def test_shipped_profiles_load() -> None:
    ids = set(Profiles.load().by_id)
    assert {"lian-nb-smoke", "lian-nb-gas", "onenet-smoke", "nb-sos-button"} <= ids


@pytest.mark.parametrize(
    ("text", "match"),
    [('id="x"\nplatforms=["ctwing"]\nheartbeat_s=1\n[codes.a]\n"1"=["smoke_alarm"]', "state"),
     ('id="x"\nplatforms=["ctwing"]\nheartbeat_s=1\n[codes.a]\n"1"=["fire=1"]', "unknown event"),
     ('id="x"\nplatforms=["zigbee"]\nheartbeat_s=1', "platforms"),
     ('id="x"\nplatforms=["ctwing"]\nheartbeat_s=0', "positive"),
     ('id="x"\nplatforms=["ctwing"]\nheartbeat_s=1\n[states.s]\nevent="tamper"\nraised=[1]\n'
      'normal=[1]', "both")],
)  # fmt: skip
def test_bad_profiles_say_why(text: str, match: str) -> None:
    with pytest.raises(ProfileError, match=match):
        parse_profile(text, "t.toml")


def test_a_stated_code_wins_over_a_threshold_in_the_same_message(tmp_path: Path) -> None:
    rx = receiver(tmp_path)
    take(rx, lian(7, T0), T0)
    # code 4 (low voltage) beside Battery_Level 90: low battery, raised once and kept
    assert kinds(take(rx, lian(4, T0 + 1), T0 + 1)) == [("low_battery", 1.0)]
    assert kinds(take(rx, lian(2, T0 + 2), T0 + 2)) == [("low_battery", 0.0)]  # 90 % again
    low = lian(2, T0 + 3, Battery_Level=10)
    assert kinds(take(rx, low, T0 + 3)) == [("low_battery", 1.0)]


def test_a_late_alarm_is_shown_then_restored_and_a_late_restoral_changes_nothing(
    tmp_path: Path,
) -> None:
    rx = receiver(tmp_path)
    take(rx, lian(7, T0 + 10), T0 + 10)  # normal at T0+10 arrives first
    late = take(rx, lian(1, T0 + 5), T0 + 11)  # the alarm of T0+5, retried late
    assert kinds(late) == [("smoke_alarm", 1.0), ("smoke_alarm", 0.0)]
    assert late.events[0].ts == T0 + 5
    assert kinds(take(rx, lian(1, T0 + 20), T0 + 20)) == [("smoke_alarm", 1.0)]
    assert kinds(take(rx, lian(7, T0 + 15), T0 + 21)) == []  # older than the alarm: stands
    assert kinds(take(rx, lian(7, T0 + 25), T0 + 25)) == [("smoke_alarm", 0.0)]


def test_a_push_older_than_deduplication_remembers_is_not_forwarded(tmp_path: Path) -> None:
    rx = receiver(tmp_path)
    out = take(rx, lian(1, T0), T0 + 4 * 3600)  # a replay of a four-hour-old alarm
    assert out.result is Result.DEAD
    assert rx.state.dead_letters()[0][3] == "stale"


def test_online_report_of_a_device_registered_by_imei_only(tmp_path: Path) -> None:
    rx = receiver(tmp_path)
    rx.registry.by_platform_id.clear()  # type: ignore[attr-defined]
    take(rx, lian(7, T0), T0)  # a data report carries both the IMEI and the device id
    offline = fake.ctwing_body(fake.ctwing_online(LIAN_ID, "15014772", online=False, t=T0 + 1))
    assert kinds(take(rx, offline, T0 + 1)) == [("availability", 0.0)]


BINARY = """
id = "test-binary-smoke"
device_type = "smoke_alarm"
platforms = ["ctwing"]
products = ["bin-1"]
heartbeat_s = 3600
appdata = "binary"
[frame.status]
offset = 2
length = 1
[frame.rsrp]
offset = 3
length = 2
signed = true
[codes.status]
"0" = ["smoke_alarm=0"]
"1" = ["smoke_alarm=1"]
"3" = ["self_test"]
[readings.rsrp]
metric = "rsrp"
scale = 0.1
"""


def test_a_transparent_binary_frame_read_by_its_profile(tmp_path: Path) -> None:
    rx = receiver(tmp_path)
    profiles = [*rx.profiles.by_id.values(), parse_profile(BINARY, "binary")]
    rx.profiles = Profiles(profiles)
    rx.registry.add(  # type: ignore[attr-defined]
        DeviceEntry("nb-bin-1", "ctwing", "bin-1", None, "865555555555555", "bin-dev")
    )

    def frame(status: int, t: float) -> bytes:
        raw = bytes([0xAA, 0x01, status]) + (-1050).to_bytes(2, "big", signed=True)
        obj = fake.ctwing_appdata("865555555555555", "bin-dev", "bin-1", raw, t=t)
        return fake.ctwing_body(obj)

    take(rx, frame(0, T0), T0)
    out = take(rx, frame(1, T0 + 1), T0 + 1)
    assert kinds(out) == [("smoke_alarm", 1.0)]
    ((metric, value),) = [(r.metric, r.value) for r in out.readings]
    assert metric == "rsrp"
    assert value == pytest.approx(-105.0)
    short = fake.ctwing_body(fake.ctwing_appdata("865555555555555", "bin-dev", "bin-1",
                                                 b"\xaa\x01", t=T0 + 2))  # fmt: skip
    take(rx, short, T0 + 2)
    assert "has no status" in rx.state.dead_letters()[-1][4]
