import numpy as np
import pytest

from ingest.columns import EMPTY, Readings
from ingest.copy_binary import encode_readings
from tests.ingest import naive

KEYS = np.array([7, 1, 2**31 - 1, 300_000, 42], dtype=np.int32)  # registry keys by slot
METRIC_CODES = 24


def readings(n: int, seed: int = 0) -> Readings:
    rng = np.random.default_rng(seed)
    ts = 1.7637e9 + rng.random(n) * 1e6
    return Readings(
        device=rng.integers(0, len(KEYS), n).astype(np.int32),
        metric=rng.integers(0, METRIC_CODES, n).astype(np.int32),
        seq=rng.integers(-(2**62), 2**62, n).astype(np.int64),
        ts=ts,
        # In range, at a rounding tie, and saturated either way.
        rx=ts + rng.choice([0.0, 0.0004, 0.125, 0.005, 12.34, 327.67, 400.0, -1e5], n),
        value=rng.choice([0.0, -0.0, -40.5, 1e30, 1e-40, 21.37, 2.95, 10000.0], n),
    )


def encode(r: Readings) -> bytes:
    return bytes(encode_readings(r, KEYS))


@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000])
def test_matches_the_struct_pack_reference(n):
    r = readings(n, seed=n)
    assert encode(r) == naive.copy_binary(r, KEYS.tolist())


def test_empty_batch_is_signature_and_trailer():
    assert encode(EMPTY) == naive.copy_binary(EMPTY, KEYS.tolist())
    assert len(encode(EMPTY)) == 19 + 2


def test_a_row_is_fifty_bytes_on_the_wire():
    assert len(encode(readings(10))) - len(encode(EMPTY)) == 10 * 50


def test_refuses_a_device_slot_outside_the_key_table_or_without_a_key():
    r = readings(3)
    bad = Readings(r.device + len(KEYS), r.metric, r.seq, r.ts, r.rx, r.value)
    with pytest.raises(ValueError, match="device slot"):
        encode(bad)
    negative = Readings(r.device - 10, r.metric, r.seq, r.ts, r.rx, r.value)
    with pytest.raises(ValueError, match="device slot"):
        encode(negative)
    with pytest.raises(ValueError, match="no registry key"):
        encode_readings(r, np.zeros(len(KEYS), dtype=np.int32))


def test_refuses_wrong_dtypes_and_ragged_columns():
    r = readings(3)
    with pytest.raises(TypeError, match=r"readings\.seq"):
        encode(Readings(r.device, r.metric, r.seq.astype(np.int32), r.ts, r.rx, r.value))
    with pytest.raises(ValueError, match=r"readings\.value"):
        encode(Readings(r.device, r.metric, r.seq, r.ts, r.rx, r.value[:2]))
    with pytest.raises(TypeError, match="device keys"):
        encode_readings(r, KEYS.astype(np.int64))
