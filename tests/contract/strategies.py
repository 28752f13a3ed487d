"""Hypothesis strategies for every message of the wire contract."""

from __future__ import annotations

from hypothesis import strategies as st

from vigil.codec import Command, Event, EventBatch, GatewayStatus, TelemetryBatch
from vigil.frames import Frame
from vigil.topics import COMMANDS

ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", fullmatch=True)
names = st.text(min_size=1, max_size=64)
finite = st.floats(allow_nan=False, allow_infinity=False)
# Float sums overflow past ~1e308; the codec checks columns through their sum (see codec.py).
columns_floats = st.floats(min_value=-1e300, max_value=1e300)
epoch = st.floats(min_value=0, max_value=4e9)
seqs = st.integers(min_value=0, max_value=2**63 - 1)
gseqs = st.integers(min_value=1, max_value=2**63 - 1)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | finite | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
details = st.dictionaries(st.text(max_size=16), json_values, max_size=4)


@st.composite
def telemetry_batches(draw: st.DrawFn) -> TelemetryBatch:
    n = draw(st.integers(min_value=1, max_value=40))
    return TelemetryBatch(
        gw=draw(ids),
        gseq=draw(gseqs),
        sent=draw(epoch),
        dev=draw(st.lists(ids, min_size=n, max_size=n)),
        seq=draw(st.lists(seqs, min_size=n, max_size=n)),
        ts=draw(st.lists(epoch, min_size=n, max_size=n)),
        rx=draw(st.lists(epoch, min_size=n, max_size=n)),
        metric=draw(st.lists(names, min_size=n, max_size=n)),
        value=draw(st.lists(columns_floats, min_size=n, max_size=n)),
    )


events = st.builds(
    Event, dev=ids, seq=seqs, ts=epoch, rx=epoch, kind=names, value=finite, detail=details
)
event_batches = st.builds(
    EventBatch, gw=ids, gseq=gseqs, sent=epoch, events=st.lists(events, min_size=1, max_size=8)
)
statuses = st.builds(
    GatewayStatus,
    gw=ids,
    state=st.sampled_from(["online", "offline"]),
    ts=epoch,
    queue_depth=st.integers(0, 2**40),
    dropped_telemetry=st.integers(0, 2**40),
    devices=st.integers(0, 100_000),
)
commands = st.builds(
    Command,
    cmd=st.sampled_from(COMMANDS),
    dev=st.none() | names,
    id=st.uuids().map(str),
    args=details,
)
report_frames = st.builds(
    Frame,
    dev=ids,
    type=names,
    seq=seqs,
    ts=epoch,
    r=st.dictionaries(names, finite, max_size=6),
)
event_frames = st.builds(
    Frame, dev=ids, type=names, seq=seqs, ts=epoch, e=names, x=st.none() | finite
)
frames = report_frames | event_frames
