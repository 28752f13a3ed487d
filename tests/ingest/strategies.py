"""Hypothesis strategies for bad uplink messages: each draws (topic, payload, reason class).

Every message drawn here is wrong in at least one way, so every one of them must end in the
dead letters; a few good readings may ride along and must still be stored.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from hypothesis import strategies as st

from bench.loadgen import SMOKE_FRAME

_gseq = itertools.count(10_000_000)  # unique per draw: a reused (gw, gseq, sent) is a redelivery


@dataclass(frozen=True)
class Scene:
    """The registry a bad message is aimed at: a site, its gateway and devices, and the clock."""

    site: str
    gateway: str
    devices: tuple[str, ...]
    other_gateway: str  # provisioned on the same site
    other_device: str  # provisioned behind other_gateway
    now: float

    @property
    def topic(self) -> str:
        return f"vigil/v1/{self.site}/{self.gateway}/up/telemetry"


def good_message(scene: Scene, frames: int, now: float) -> dict[str, Any]:
    """A valid telemetry message, with a new gseq and sequence numbers never drawn before."""
    gseq = next(_gseq)
    rows = [
        (scene.devices[k % len(scene.devices)], gseq * 10 + k, metric, value, now - 1 + k * 0.001)
        for k in range(frames)
        for metric, value in zip(SMOKE_FRAME, (0.2, 21.0, 3.0), strict=True)
    ]
    return {
        "v": 1,
        "gw": scene.gateway,
        "gseq": next(_gseq),
        "sent": now,
        "dev": [r[0] for r in rows],
        "seq": [r[1] for r in rows],
        "metric": [r[2] for r in rows],
        "value": [r[3] for r in rows],
        "ts": [r[4] for r in rows],
        "rx": [r[4] + 0.001 for r in rows],
    }


def _set_row(field: str, value: Any) -> Callable[[dict[str, Any], int], None]:
    def apply(msg: dict[str, Any], row: int) -> None:
        msg[field][row] = value

    return apply


# Defects of one reading: the rest of the message stays good.
def reading_defects(scene: Scene) -> st.SearchStrategy[Callable[[dict[str, Any], int], None]]:
    return st.one_of(
        st.text(min_size=1, max_size=64)
        .filter(lambda d: d not in scene.devices)
        .map(lambda d: _set_row("dev", d)),
        st.just(_set_row("dev", scene.other_device)),
        st.sampled_from(["co", "door", "humidity", "Temperature"]).map(
            lambda m: _set_row("metric", m)
        ),
        st.floats(min_value=150.0001, max_value=1e300).map(lambda v: _set_row("value", v)),
        st.floats(max_value=-40.0001, min_value=-1e300).map(lambda v: _set_row("value", v)),
        st.floats(min_value=400, max_value=1e9).map(lambda dt: _set_row("ts", scene.now + dt)),
        st.floats(min_value=8 * 86400, max_value=1e9).map(
            lambda dt: _set_row("ts", scene.now - dt)
        ),
    )


# Defects of the whole message.
def _drop(field: str) -> Callable[[dict[str, Any]], None]:
    return lambda msg: msg.pop(field)


def _put(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(msg: dict[str, Any]) -> None:
        msg[field] = value

    return apply


def message_defects(scene: Scene) -> st.SearchStrategy[Callable[[dict[str, Any]], None]]:
    junk = st.one_of(
        st.none(),
        st.booleans(),
        st.text(max_size=8),
        st.binary(max_size=8),
        st.integers(-(2**70), 2**70),
        st.lists(st.integers(), max_size=3),
    )
    required = ["gw", "gseq", "sent", "dev", "seq", "ts", "rx", "metric", "value"]
    fields = st.sampled_from(["v", *required])  # `v` may be left out (it defaults to 1)
    return st.one_of(
        st.sampled_from(required).map(_drop),
        st.tuples(fields, junk)
        .filter(lambda fj: not _could_be_valid(*fj))
        .map(lambda fj: _put(*fj)),
        st.sampled_from(["seq", "ts", "value", "dev"]).map(lambda f: lambda m: m[f].pop()),
        st.just(_put("v", 2)),
        st.just(_put("gseq", 0)),
        st.just(lambda m: m["seq"].__setitem__(0, 2**64 - 1)),
        st.just(lambda m: m["value"].__setitem__(0, math.nan)),
        st.just(lambda m: m["ts"].__setitem__(0, math.inf)),
        st.just(_put("gw", "someone-else")),  # the payload contradicts the topic
        st.just(_put("sent", scene.now + 86400)),
        st.just(_put("sent", scene.now - 30 * 86400)),
        st.just(lambda m: m.update(dev=[], seq=[], ts=[], rx=[], metric=[], value=[])),
    )


def _could_be_valid(field: str, junk: Any) -> bool:
    """Junk that a field would accept (`gseq = 5`) does not make a bad message."""
    if isinstance(junk, list):
        return True  # a list in a column field could be a well-formed column
    if type(junk) is int:
        return field in ("gseq", "sent") or (field == "v" and junk == 1)
    return False


@st.composite
def bad_uplinks(draw: st.DrawFn, scene: Scene) -> tuple[str, bytes]:
    """(topic, payload) of a message with at least one defect."""
    kind = draw(st.sampled_from(["bytes", "json", "reading", "message", "topic"]))
    encoder = draw(st.sampled_from(["json", "msgpack"]))
    if kind == "bytes":
        return scene.topic, draw(st.binary(min_size=0, max_size=300))
    if kind == "json":
        blob = draw(
            st.dictionaries(st.text(max_size=6), st.integers() | st.text(max_size=6), max_size=5)
        )
        return scene.topic, msgspec.json.encode(blob)
    msg = good_message(scene, draw(st.integers(1, 5)), scene.now)
    topic = scene.topic
    if kind == "reading":
        for _ in range(draw(st.integers(1, 3))):
            draw(reading_defects(scene))(msg, draw(st.integers(0, len(msg["dev"]) - 1)))
    elif kind == "message":
        draw(message_defects(scene))(msg)
    else:
        topic = draw(
            st.sampled_from(
                [
                    f"vigil/v1/{scene.site}/unknown-gw/up/telemetry",
                    f"vigil/v1/{scene.site}/{scene.other_gateway}/up/telemetry",
                    f"vigil/v1/{scene.site}/{scene.gateway}/up/event",
                    f"vigil/v1/{scene.site}/{scene.gateway}/up/other",
                ]
            )
        )
        if topic.endswith(f"/{scene.other_gateway}/up/telemetry"):
            msg["gw"] = scene.other_gateway  # the other gateway speaking for our devices
        elif topic.endswith("unknown-gw/up/telemetry"):
            msg["gw"] = "unknown-gw"
    return topic, _encode(msg, encoder)


def _encode(msg: dict[str, Any], encoder: str) -> bytes:
    """The message as bytes. MessagePack cannot carry integers beyond 64 bits at all, so junk
    of that size goes out as JSON, which can (and which ingest must refuse just the same)."""
    if encoder == "msgpack":
        try:
            return msgspec.msgpack.encode(msg)
        except OverflowError:
            pass
    return msgspec.json.encode(msg)
