import numpy as np
import pytest

from ingest.columns import EMPTY, Readings
from ingest.copy_binary import encode_readings
from ingest.registry import string_table
from tests.ingest import naive

DEVICES = ["sd-1", "hd-7", "烟感-3", "x" * 64, "pb-0"]
METRICS = ["battery", "smoke_obscuration", "temperature"]


def readings(n: int, seed: int = 0) -> Readings:
    rng = np.random.default_rng(seed)
    return Readings(
        device=rng.integers(0, len(DEVICES), n).astype(np.int32),
        metric=rng.integers(0, len(METRICS), n).astype(np.int32),
        seq=rng.integers(-(2**62), 2**62, n).astype(np.int64),
        ts=1.7637e9 + rng.random(n) * 1e6,
        rx=rng.choice([0.0, 946684800.0, 1.7637e9, 4.1e9, 1e5], n),
        value=rng.choice([0.0, -0.0, -40.5, 1e300, 5e-324, np.nan, np.inf, 21.5], n),
    )


def encode(r: Readings) -> bytes:
    return bytes(encode_readings(r, *string_table(DEVICES), *string_table(METRICS)))


@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000])
def test_matches_the_struct_pack_reference(n):
    r = readings(n, seed=n)
    assert encode(r) == naive.copy_binary(r, DEVICES, METRICS)


def test_empty_batch_is_signature_and_trailer():
    assert encode(EMPTY) == naive.copy_binary(EMPTY, DEVICES, METRICS)
    assert len(encode(EMPTY)) == 19 + 2


def test_refuses_a_device_code_outside_the_table():
    r = readings(3)
    bad = Readings(r.device + len(DEVICES), r.metric, r.seq, r.ts, r.rx, r.value)
    with pytest.raises(ValueError, match="device code"):
        encode(bad)
    negative = Readings(r.device - 10, r.metric, r.seq, r.ts, r.rx, r.value)
    with pytest.raises(ValueError, match="device code"):
        encode(negative)


def test_refuses_wrong_dtypes_and_ragged_columns():
    r = readings(3)
    with pytest.raises(TypeError, match=r"readings\.seq"):
        encode(Readings(r.device, r.metric, r.seq.astype(np.int32), r.ts, r.rx, r.value))
    with pytest.raises(ValueError, match=r"readings\.value"):
        encode(Readings(r.device, r.metric, r.seq, r.ts, r.rx, r.value[:2]))


def test_refuses_offsets_that_do_not_fit_the_bytes():
    data, offsets = string_table(DEVICES)
    with pytest.raises(ValueError, match="device offsets"):
        encode_readings(readings(2), data[:-1], offsets, *string_table(METRICS))
    with pytest.raises(TypeError, match="metric table"):
        encode_readings(readings(2), data, offsets, data, offsets.astype(np.int32))
