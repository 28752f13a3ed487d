"""The family-call and quiet-hours parts of the escalation policy: pure, handed `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerting.errors import EscalationConfigError
from alerting.escalation import DEFAULT_POLICY, load_policy, parse_policy
from alerting.family_policy import QuietHours, parse_quiet_hours
from alerting.templates import fit_params

SHANGHAI = timedelta(hours=8)


def _quiet() -> QuietHours:
    policy = load_policy(DEFAULT_POLICY)
    assert policy.quiet_hours is not None
    return policy.quiet_hours


def test_the_bundled_policy_calls_for_panic_and_fire_after_two_minutes_never_for_trouble() -> None:
    rule = load_policy(DEFAULT_POLICY).family_call
    assert rule is not None
    assert rule.after == timedelta(minutes=2)
    assert rule.applies("panic", 5)
    assert rule.applies("fire", 4)
    assert not rule.applies("battery_low", 1)  # trouble
    assert not rule.applies("fire", 2)  # a supervisory pre-alarm
    assert not rule.applies("inactivity", 3)  # not listed


@pytest.mark.parametrize(
    ("local", "severity", "held_until_local"),
    [
        ("23:30", 3, "07:00+1"),  # a wellness message late at night waits for the morning
        ("03:00", 3, "07:00"),
        ("06:59", 2, "07:00"),
        ("07:00", 3, None),  # the quiet hours are over
        ("21:59", 3, None),
        ("23:30", 4, None),  # an alarm goes out at once, day or night
        ("03:00", 5, None),
    ],
)
def test_quiet_hours_hold_back_only_non_urgent_messages(
    local: str, severity: int, held_until_local: str | None
) -> None:
    day = datetime(2026, 11, 22, tzinfo=UTC)
    hours, minutes = (int(x) for x in local.split(":"))
    now = day + timedelta(hours=hours, minutes=minutes) - SHANGHAI  # that Beijing time, in UTC
    result = _quiet().not_before(now, severity)
    if held_until_local is None:
        assert result == now
        return
    next_day = held_until_local.endswith("+1")
    expected = day + timedelta(hours=7, days=1 if next_day else 0) - SHANGHAI
    assert result == expected


@given(st.datetimes(timezones=st.just(UTC)), st.integers(1, 5))
def test_a_message_is_never_sent_earlier_nor_held_past_the_quiet_hours(
    now: datetime, severity: int
) -> None:
    result = _quiet().not_before(now, severity)
    assert now <= result <= now + timedelta(hours=9)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"family_call": {"after_s": -1, "causes": ["fire"]}}, "after_s"),
        ({"family_call": {"after_s": 60, "causes": "fire"}}, "causes"),
        ({"family_call": {"after_s": 60, "causes": ["fire"], "min_severity": 1}}, "trouble"),
        ({"family_call": {"after_s": 60, "causes": ["fire"], "loud": True}}, "unknown keys"),
        ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet_hours.start"),
        ({"quiet_hours": {"start": "22:00", "end": "22:00"}}, "must differ"),
        ({"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Mars/Base"}}, "zone"),
    ],
)
def test_bad_family_sections_name_the_field(raw: dict[str, Any], problem: str) -> None:
    base = {
        "district": "x",
        "tier": [{"name": "grid", "channels": ["console"], "people": [{"role": "operator"}]}],
        "severity": {
            str(n): {"acknowledge_s": 1, "dispatch_s": 1, "arrive_s": 1} for n in range(1, 6)
        },
    }
    with pytest.raises(EscalationConfigError, match=problem):
        parse_policy({**base, **raw})


def test_quiet_hours_within_one_day() -> None:
    def fail(where: str, problem: str) -> EscalationConfigError:
        return EscalationConfigError(f"{where}: {problem}")

    quiet = parse_quiet_hours({"start": "12:00", "end": "14:00", "timezone": "UTC"}, fail)
    assert quiet is not None
    noon = datetime(2026, 1, 1, 13, 0, tzinfo=UTC)
    assert quiet.not_before(noon, 1) == datetime(2026, 1, 1, 14, 0, tzinfo=UTC)
    assert quiet.not_before(noon.replace(hour=15), 1) == noon.replace(hour=15)


def test_template_variables_fit_the_providers_rules() -> None:
    fitted = fit_params({"place": "幸" * 40, "what": "", "no": "12"}, limit=35)
    assert len(fitted["place"]) == 35
    assert fitted["place"].endswith("…")
    assert fitted["what"] == "-"  # never empty: both providers refuse an empty variable
    assert fitted["no"] == "12"
