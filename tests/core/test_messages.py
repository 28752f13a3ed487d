"""The message catalogue: every code in both languages, times in the district's zone, labels,
nested messages, and no template that names a parameter its writer never gives."""

from __future__ import annotations

import re

import pytest

from detectors.codes import KINDS, RULES
from vigil.device_types import DEVICE_TYPES, METRICS
from vigil.messages import (
    LABELS,
    MESSAGES,
    catalogue,
    format_duration,
    format_time,
    label,
    language_of,
    render,
)

HAN = re.compile(r"[\u4e00-\u9fff]")


def test_times_are_local_and_readable() -> None:
    at = "2026-12-06T05:48:55.895299+00:00"
    assert format_time(at, "zh") == "12月6日 13:48:55"
    assert format_time(at, "en") == "6 Dec 13:48:55"
    assert format_time(at, "zh", "Europe/London") == "12月6日 05:48:55"


@pytest.mark.parametrize(
    ("seconds", "zh", "en"),
    [(15, "15 秒", "15 s"), (125, "2 分 5 秒", "2 min 5 s"), (120, "2 分钟", "2 min"),
     (3780, "1 小时 3 分", "1 h 3 min")],
)  # fmt: skip
def test_durations(seconds: float, zh: str, en: str) -> None:
    assert format_duration(seconds, "zh") == zh
    assert format_duration(seconds, "en") == en


def test_the_escalation_reads_as_the_issue_asks() -> None:
    params = {
        "step": "acknowledge",
        "waited": 15,
        "from": {"zh": "网格员", "en": "grid member"},
        "to": {"zh": "社区值班员", "en": "community duty officer"},
        "deadline": "2026-12-06T05:48:55.895299+00:00",
    }
    zh = render("tl.escalate_late", params, "zh")
    assert zh == "超时 15 秒未确认：网格员 → 社区值班员（期限 12月6日 13:48:55）"
    assert "not acknowledged within 15 s" in render("tl.escalate_late", params, "en")


def test_a_panic_opening_names_the_room_in_the_readers_language() -> None:
    params = {
        "kind": "panic",
        "device": "gw-0001-015-pb",
        "room": "bedroom",
        "reason": {"code": "reason.panic_press", "params": {}},
    }
    assert render("tl.open", params, "zh") == "紧急按钮：gw-0001-015-pb（卧室）按下了紧急按钮"
    assert render("tl.open", params, "en") == (
        "panic button on gw-0001-015-pb (bedroom): panic button pressed"
    )


def test_every_code_has_both_languages_and_chinese_is_chinese() -> None:
    for code, (zh, en) in MESSAGES.items():
        assert zh, code
        assert en, code
        assert not HAN.search(en), f"{code}: Chinese in the English template"
        fields_zh = set(re.findall(r"\{(\w+)", zh))
        fields_en = set(re.findall(r"\{(\w+)", en))
        assert fields_zh == fields_en, f"{code}: the two templates name different parameters"
    for kind, table in LABELS.items():
        for value, (zh, en) in table.items():
            assert HAN.search(zh), f"{kind}.{value}: no Chinese"
            assert not HAN.search(en), f"{kind}.{value}: Chinese in English"


def test_every_vocabulary_word_has_a_label() -> None:
    assert set(KINDS) <= set(LABELS["kind"])
    assert set(RULES) <= set(LABELS["rule"])
    assert set(METRICS) <= set(LABELS["metric"])
    assert set(DEVICE_TYPES) <= set(LABELS["type"])


def test_labels_fall_back_to_the_value_and_read_stairwells() -> None:
    assert label("room", "kitchen", "zh") == "厨房"
    assert label("room", "stairwell-3F", "zh") == "3层楼梯间"
    assert label("room", "地下室", "en") == "地下室"
    assert render("rule.smoke_high", {}, "zh") == "浓烟"
    assert render("no.such.code", {}, "zh") == "no.such.code"


def test_a_missing_parameter_shows_a_dash_not_a_crash() -> None:
    assert (
        render("reason.smoke_high", {"smoke": 3.25}, "zh")
        == "浓烟：高出基线 3.2 %/m（报警阈值 — %/m）"
    )


def test_language_choice() -> None:
    assert language_of("en-GB,en;q=0.9") == "en"
    assert language_of("zh-CN") == "zh"
    assert language_of(None) == "zh"
    assert catalogue("zh")["room.kitchen"] == "厨房"
    assert catalogue("en")["state.new"] == "new"
