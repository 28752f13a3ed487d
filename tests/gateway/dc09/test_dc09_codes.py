"""The shipped code table: each code to the wire kind the issue names, restores, unknown codes."""

from __future__ import annotations

import pytest

from gateway.dc09.codes import KINDS, PANEL_EVENT, map_event, tables
from gateway.dc09.frame import PanelEvent
from vigil.device_types import device_type


def cid(code: str, q: str = "1", zone: str = "001") -> tuple[str, float, dict[str, object]]:
    m = map_event(PanelEvent("cid", code, qualifier=q, zone=zone, area="01"), "1234")
    return m.kind, m.value, m.detail


def sia(code: str) -> tuple[str, float]:
    m = map_event(PanelEvent("sia", code, zone="1"), "1234")
    return m.kind, m.value


@pytest.mark.parametrize(
    ("code", "kind"),
    [("110", "smoke_alarm"), ("111", "smoke_alarm"), ("114", "heat_alarm"),
     ("118", "smoke_alarm"), ("120", "button"), ("121", "button"), ("122", "button"),
     ("100", "button"), ("101", "button"), ("102", "button"), ("151", "gas_alarm"),
     ("162", "co_alarm"), ("137", "tamper"), ("383", "tamper"), ("301", "fault"),
     ("302", "low_battery"), ("384", "low_battery"), ("373", "fault"), ("380", "fault"),
     ("602", "self_test"), ("401", "presence"), ("154", "water_leak")],
)  # fmt: skip
def test_contact_id_codes(code: str, kind: str) -> None:
    assert cid(code)[:2] == (kind, 1.0)


def test_restores_and_status() -> None:
    assert cid("111", "3")[:2] == ("smoke_alarm", 0.0)
    assert cid("111", "6")[:2] == ("smoke_alarm", 1.0)  # still present: a status, as raised
    assert cid("120", "3")[:2] == (PANEL_EVENT, 0.0)  # a panic is not "un-pressed"
    assert cid("602", "3")[0] == PANEL_EVENT  # a test is never a fire, nor its restore
    assert cid("401", "3")[:2] == ("presence", 0.0)  # closed by user: armed away
    assert cid("441", "3")[:2] == ("presence", 1.0)  # stay arm ended: still home


def test_button_reasons() -> None:
    assert cid("100")[2]["reason"] == "medical"
    assert cid("121")[2]["reason"] == "duress"
    assert cid("120")[2]["reason"] == "panic"


@pytest.mark.parametrize(
    ("code", "want"),
    [("FA", ("smoke_alarm", 1.0)), ("FH", ("smoke_alarm", 0.0)), ("KA", ("heat_alarm", 1.0)),
     ("PA", ("button", 1.0)), ("HA", ("button", 1.0)), ("MA", ("button", 1.0)),
     ("TA", ("tamper", 1.0)), ("TR", ("tamper", 0.0)), ("YT", ("low_battery", 1.0)),
     ("YR", ("low_battery", 0.0)), ("AT", ("fault", 1.0)), ("FT", ("fault", 1.0)),
     ("FJ", ("fault", 0.0)), ("RP", ("self_test", 1.0)), ("OP", ("presence", 1.0)),
     ("CL", ("presence", 0.0)), ("GA", ("gas_alarm", 1.0))],
)  # fmt: skip
def test_sia_codes(code: str, want: tuple[str, float]) -> None:
    assert sia(code) == want


def test_unknown_codes_are_kept_with_what_is_known() -> None:
    kind, value, detail = cid("999")
    assert (kind, value) == (PANEL_EVENT, 1.0)
    assert detail["known"] is False
    assert (detail["account"], detail["code"], detail["zone"]) == ("1234", "999", "001")
    burglary = map_event(PanelEvent("sia", "BA", zone="3", text="hall"), "1234")
    assert burglary.kind == PANEL_EVENT
    assert burglary.detail["name_en"] == "Burglary Alarm"  # named from pysiaalarm's table
    assert burglary.detail["text"] == "hall"
    assert map_event(PanelEvent("sia", "QQ"), "1234").detail["name_en"] == "Unknown panel event"


def test_every_kind_is_an_event_of_the_panel_device_type() -> None:
    panel = device_type("alarm_panel")
    cid_rules, sia_rules, _ = tables()
    used = {r.kind for r in [*cid_rules.values(), *sia_rules.values()]} | {PANEL_EVENT}
    assert used <= KINDS
    assert used | {"availability"} <= set(panel.events)
