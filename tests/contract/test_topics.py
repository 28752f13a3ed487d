"""Topic layout as tables of valid and invalid strings; no network."""

from __future__ import annotations

from typing import Any

import pytest

from vigil.topics import (
    Topic,
    TopicError,
    TopicKind,
    downlink_filter,
    shared,
    status_filter,
    uplink_filter,
)

VALID = [
    ("vigil/v1/site-a/gw-0001/up/telemetry", Topic("site-a", "gw-0001", TopicKind.TELEMETRY)),
    ("vigil/v1/s/G/up/event", Topic("s", "G", TopicKind.EVENT)),
    ("vigil/v1/0_x/gw_7/status", Topic("0_x", "gw_7", TopicKind.STATUS)),
    ("vigil/v1/site/gw/down/self_test", Topic("site", "gw", TopicKind.DOWN, "self_test")),
    ("vigil/v1/site/gw/down/silence", Topic("site", "gw", TopicKind.DOWN, "silence")),
    ("vigil/v1/site/gw/down/config", Topic("site", "gw", TopicKind.DOWN, "config")),
    (f"vigil/v1/{'a' * 32}/{'B' * 64}/status", Topic("a" * 32, "B" * 64, TopicKind.STATUS)),
]

INVALID = [
    ("", "not under"),
    ("vigil/v2/site/gw/up/telemetry", "not under"),
    ("/vigil/v1/site/gw/up/telemetry", "not under"),
    ("vigil/v1/site/gw", "too short"),
    ("vigil/v1/Site/gw/up/telemetry", "invalid site"),
    ("vigil/v1/-site/gw/up/telemetry", "invalid site"),
    (f"vigil/v1/{'a' * 33}/gw/status", "invalid site"),
    ("vigil/v1/+/gw/status", "invalid site"),
    ("vigil/v1/site/_gw/status", "invalid gateway id"),
    ("vigil/v1/site/gw.1/status", "invalid gateway id"),
    (f"vigil/v1/site/{'g' * 65}/status", "invalid gateway id"),
    ("vigil/v1/site/#/status", "invalid gateway id"),
    ("vigil/v1/site//up/event", "invalid gateway id"),
    ("vigil/v1/site/gw/up", "unknown tail"),
    ("vigil/v1/site/gw/up/telemetry/extra", "unknown tail"),
    ("vigil/v1/site/gw/up/alarm", "unknown tail"),
    ("vigil/v1/site/gw/status/", "unknown tail"),
    ("vigil/v1/site/gw/down", "names no command"),
    ("vigil/v1/site/gw/down/reboot", "invalid downlink command"),
    ("vigil/v1/site/gw/down/self_test/x", "unknown tail"),
]


@pytest.mark.parametrize(("text", "topic"), VALID)
def test_valid_topics_parse_and_print_back(text: str, topic: Topic) -> None:
    assert Topic.parse(text) == topic
    assert str(topic) == text


@pytest.mark.parametrize(("text", "reason"), INVALID)
def test_invalid_topics_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(TopicError, match=reason):
        Topic.parse(text)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("site", "gw", TopicKind.DOWN, None), "invalid downlink command"),
        (("site", "gw", TopicKind.STATUS, "silence"), "only downlink topics"),
        (("site", "gw", "status", None), "invalid topic kind"),
        (("", "gw", TopicKind.STATUS, None), "invalid site"),
        (("site", "", TopicKind.STATUS, None), "invalid gateway id"),
    ],
)
def test_topics_check_themselves_when_made(args: tuple[Any, ...], reason: str) -> None:
    with pytest.raises(TopicError, match=reason):
        Topic(*args)


def test_constructors_name_the_documented_topics() -> None:
    assert str(Topic.telemetry("s1", "gw-1")) == "vigil/v1/s1/gw-1/up/telemetry"
    assert str(Topic.event("s1", "gw-1")) == "vigil/v1/s1/gw-1/up/event"
    assert str(Topic.status("s1", "gw-1")) == "vigil/v1/s1/gw-1/status"
    assert str(Topic.down("s1", "gw-1", "silence")) == "vigil/v1/s1/gw-1/down/silence"


def test_topic_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="invalid site"):
        Topic.status("BAD", "gw")


@pytest.mark.parametrize(
    ("made", "expected"),
    [
        (uplink_filter(), "vigil/v1/+/+/up/#"),
        (uplink_filter("s1"), "vigil/v1/s1/+/up/#"),
        (uplink_filter("s1", "gw-1"), "vigil/v1/s1/gw-1/up/#"),
        (uplink_filter(gateway_id="gw-1"), "vigil/v1/+/gw-1/up/#"),
        (uplink_filter(kind=TopicKind.EVENT), "vigil/v1/+/+/up/event"),
        (uplink_filter("s1", kind=TopicKind.TELEMETRY), "vigil/v1/s1/+/up/telemetry"),
        (status_filter(), "vigil/v1/+/+/status"),
        (status_filter("s1"), "vigil/v1/s1/+/status"),
        (downlink_filter("s1", "gw-1"), "vigil/v1/s1/gw-1/down/+"),
        (shared("ingest", uplink_filter()), "$share/ingest/vigil/v1/+/+/up/#"),
    ],
)
def test_filters(made: str, expected: str) -> None:
    assert made == expected


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda: uplink_filter("S1"), "invalid site"),
        (lambda: uplink_filter("s1", "g/w"), "invalid gateway id"),
        (lambda: uplink_filter(kind=TopicKind.STATUS), "not an uplink topic kind"),
        (lambda: status_filter("#"), "invalid site"),
        (lambda: downlink_filter("s1", "+"), "invalid gateway id"),
        (lambda: shared("a/b", "x/#"), "invalid share group"),
        (lambda: shared("", "x/#"), "invalid share group"),
        (lambda: shared("g", "$share/h/x/#"), "already shared"),
    ],
)
def test_filter_parts_are_checked(call, reason: str) -> None:
    with pytest.raises(TopicError, match=reason):
        call()
