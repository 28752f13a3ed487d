"""Gateway status: who it is from comes from the topic, and its time is checked before state.

Issue 14 (2, 5): a gateway publishing on its own status topic a body naming another gateway
raised "gateway offline" for that one; `"online"` with a time in 2100 switched off its devices'
offline supervision (checkpointed); a NaN time stopped every status write and +Infinity made
`/api/gateways` answer 422 for good. Both followers of the status topics (ingest's liveness
writer and the detector stage) go through `vigil.status_check` now.
"""

from __future__ import annotations

import math
import time
from types import SimpleNamespace
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.consumer import BrokerConfig
from ingest.detection.stage import DetectorStage, GatewayStatusChange
from ingest.gateway_status import GatewayStatusFollower
from ingest.liveness import GatewayState, Liveness
from vigil.codec import GatewayStatus, encode
from vigil.status_check import EARLIEST_TS, StatusRefusedError, check_status

pytestmark = pytest.mark.security

NOW = 1_800_000_000.0
TOPIC_A = "vigil/v1/site-a/gw-a/status"


def _payload(gw: str, state: str, ts: float) -> bytes:
    return encode(GatewayStatus(gw=gw, state=state, ts=ts))  # type: ignore[arg-type]


def _message(topic: str, payload: bytes, *, retain: bool) -> mqtt.MQTTMessage:
    msg = mqtt.MQTTMessage(topic=topic.encode())
    msg.payload = payload
    msg.retain = retain
    return msg


def test_a_body_naming_another_gateway_is_refused() -> None:
    with pytest.raises(StatusRefusedError, match="speaks only for itself"):
        check_status(TOPIC_A, _payload("gw-b", "offline", NOW), retained=False, now=NOW)


@pytest.mark.parametrize("ts", [math.nan, math.inf, -math.inf, 4102444800.0, 0.0, -5.0])
def test_a_time_that_is_not_a_sane_clock_is_refused(ts: float) -> None:
    for retained in (False, True):
        with pytest.raises(StatusRefusedError):
            check_status(TOPIC_A, _payload("gw-a", "online", ts), retained=retained, now=NOW)


def test_a_sane_status_is_believed_with_times_never_ahead_of_ours() -> None:
    live = check_status(TOPIC_A, _payload("gw-a", "online", NOW + 60), retained=False, now=NOW)
    assert (live.gateway_id, live.site, live.online) == ("gw-a", "site-a", True)
    assert live.sent == NOW
    assert live.at == NOW
    old = check_status(TOPIC_A, _payload("gw-a", "offline", NOW - 3600), retained=True, now=NOW)
    assert (old.online, old.sent, old.at) == (False, NOW - 3600, NOW - 3600)
    with pytest.raises(StatusRefusedError, match="not a status topic"):
        check_status("vigil/v1/site-a/gw-a/up/event", _payload("gw-a", "online", NOW),
                     retained=False, now=NOW)  # fmt: skip


@given(ts=st.floats(allow_nan=True, allow_infinity=True), retained=st.booleans())
def test_whatever_the_time_what_is_believed_is_finite_and_not_ahead(
    ts: float, retained: bool
) -> None:
    try:
        status = check_status(TOPIC_A, _payload("gw-a", "online", ts), retained=retained, now=NOW)
    except StatusRefusedError:
        return
    assert EARLIEST_TS <= status.sent <= NOW
    assert EARLIEST_TS <= status.at <= NOW


def _liveness() -> Liveness:
    return Liveness("postgresql://unused", registry=None,  # type: ignore[arg-type]
                    interval_s=1.0, device_interval_s=1.0)  # fmt: skip


def _follower(*listeners: Any) -> GatewayStatusFollower:
    """The worker's one status client, with the listeners it feeds (liveness, the stage)."""
    config = BrokerConfig("127.0.0.1", 1, "u", "p", "c", receive_window=1, session_expiry_s=0)
    follower = GatewayStatusFollower(config, owns=lambda site: True)
    for listener in listeners:
        follower.subscribe(listener)
    return follower


@pytest.mark.parametrize(
    ("payload", "retain"),
    [
        (_payload("gw-a", "online", math.nan), True),
        (_payload("gw-a", "online", math.inf), True),
        (_payload("gw-a", "online", 4102444800.0), True),
        (_payload("gw-b", "offline", time.time()), False),
    ],
    ids=["nan", "inf", "year-2100", "names-another"],
)
def test_ingest_liveness_keeps_refused_status_out_of_its_state(
    payload: bytes, retain: bool
) -> None:
    liveness = _liveness()
    follower = _follower(liveness.on_status)
    follower._on_message(None, None, _message(TOPIC_A, payload, retain=retain))  # type: ignore[arg-type]
    assert liveness._status == {}
    assert follower.refused == 1
    with pytest.raises(ValueError, match="finite"):
        liveness.gateway_status("gw-a", GatewayState(True, math.nan, math.nan))


def _stage_calls(msg: mqtt.MQTTMessage) -> list[GatewayStatusChange]:
    calls: list[GatewayStatusChange] = []
    fake: Any = SimpleNamespace(sites=None, gateway_status=calls.append)
    follower = _follower(lambda status: DetectorStage.on_gateway_status(fake, status))
    follower._on_message(None, None, msg)  # type: ignore[arg-type]
    return calls


def test_the_detector_stage_takes_the_gateway_from_the_topic() -> None:
    spoof = _message(TOPIC_A, _payload("gw-b", "offline", time.time()), retain=False)
    assert _stage_calls(spoof) == [], "a status naming another gateway reached the detectors"
    for ts in (4102444800.0, math.nan, math.inf):
        future = _message(TOPIC_A, _payload("gw-a", "online", ts), retain=True)
        assert _stage_calls(future) == [], f"status time {ts} reached the detectors"
    now = time.time()
    [own] = _stage_calls(_message(TOPIC_A, _payload("gw-a", "offline", now), retain=False))
    assert own.gateway == "gw-a"
    assert not own.online
    assert own.ts == pytest.approx(now, abs=1)
