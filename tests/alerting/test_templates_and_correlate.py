"""Notification texts and how alerts join incidents."""

from __future__ import annotations

import pytest

from alerting.correlate import cause_of, join, stronger_signal
from alerting.templates import (
    Place,
    family_alarm,
    family_closed,
    is_acknowledgement,
    responder,
)

PLACE = Place("幸福路8号3号楼", "502")


def test_family_texts_in_both_languages_are_short() -> None:
    zh = family_alarm("zh", cause="fire", place=PLACE)
    assert zh == "【Vigil】幸福路8号3号楼502火警，社区正在处理。收到请回复1"
    assert len(zh) <= 70
    en = family_alarm("en", cause="panic", place=PLACE)
    assert en.startswith("[Vigil] Emergency call at 幸福路8号3号楼 502.")
    assert family_closed("zh", cause="fire", place=PLACE, outcome="false_alarm") == (
        "【Vigil】幸福路8号3号楼502的火警经核实为误报。"
    )
    assert family_closed("en", cause="fire", place=PLACE, outcome="resolved") == (
        "[Vigil] The fire at 幸福路8号3号楼 502 has been handled."
    )


def test_responder_text_says_why_it_reached_them() -> None:
    text = responder(
        "zh", incident_id=7, cause="panic", severity=4, place=PLACE, reason="acknowledge"
    )
    assert text == "【Vigil】#7 紧急呼叫 级别4 幸福路8号3号楼502，未及时确认"
    assert (
        responder("en", incident_id=7, cause="odd_kind", severity=2, place=PLACE, reason="")
        == "[Vigil] #7 odd kind sev 2 幸福路8号3号楼 502"
    )


@pytest.mark.parametrize(
    ("body", "ack"),
    [
        ("1", True),
        (" 收到。", True),
        ("OK", True),
        ("收到!", True),
        ("2", False),
        ("谁？", False),
        ("", False),
    ],
)
def test_acknowledging_replies(body: str, ack: bool) -> None:
    assert is_acknowledgement(body) is ack


def test_causes_group_the_evidence_of_one_event() -> None:
    assert {cause_of(k) for k in ("fire", "smoke", "heat", "co", "pre_alarm")} == {"fire"}
    assert cause_of("false_press") == "panic"
    assert cause_of("battery_low") == "battery_low"
    assert stronger_signal("trouble", "alarm") == "alarm"
    assert stronger_signal("supervisory", "trouble") == "supervisory"


def test_corroboration_raises_severity_once() -> None:
    first = join(
        severity=4,
        signal="alarm",
        sources=frozenset({"sd-1:smoke"}),
        alert_kind="heat",
        alert_severity=4,
        alert_signal="alarm",
        alert_source="hd-1:heat",
    )
    assert (first.severity, first.corroborated) == (5, True)
    again = join(
        severity=4,
        signal="alarm",
        sources=frozenset({"sd-1:smoke", "hd-1:heat"}),
        alert_kind="co",
        alert_severity=4,
        alert_signal="alarm",
        alert_source="sd-1:co",
    )
    assert again.severity == 4
    same = join(
        severity=3,
        signal="alarm",
        sources=frozenset({"sd-1:smoke"}),
        alert_kind="smoke",
        alert_severity=4,
        alert_signal="alarm",
        alert_source="sd-1:smoke",
    )
    assert (same.severity, same.corroborated) == (4, False)
    pre = join(
        severity=2,
        signal="supervisory",
        sources=frozenset({"sd-1:pre_alarm"}),
        alert_kind="fire",
        alert_severity=4,
        alert_signal="alarm",
        alert_source="sd-1:fire",
    )
    assert (pre.severity, pre.signal) == (4, "alarm")
    cancel = join(
        severity=4,
        signal="alarm",
        sources=frozenset({"pb-1:panic"}),
        alert_kind="false_press",
        alert_severity=1,
        alert_signal="trouble",
        alert_source="pb-1:false_press",
    )
    assert (cancel.severity, cancel.signal) == (4, "alarm")
