import numpy as np
import pytest

from ingest.columns import Readings
from ingest.dedup import ReplayFilter, first_occurrences
from tests.ingest import naive


def make(device, seq, metric, ts) -> Readings:
    n = len(device)
    return Readings(
        np.array(device, np.int32),
        np.array(metric, np.int32),
        np.array(seq, np.int64),
        np.array(ts, np.float64),
        np.zeros(n),
        np.zeros(n),
    )


@pytest.mark.parametrize(
    "rows",
    [
        [],
        [(0, 1, 0, 10.0)],
        [(0, 1, 0, 10.0), (0, 1, 0, 10.0)],
        [(0, 1, 0, 10.0), (0, 1, 1, 10.0), (0, 1, 0, 10.0), (1, 1, 0, 10.0)],
        # Same seq, different timestamp: a device that restarted its counter, not a repeat.
        [(0, 1, 0, 10.0), (0, 1, 0, 99.0)],
        [(2, 5, 1, 1.5)] * 5 + [(2, 4, 1, 1.5)],
    ],
)
def test_first_occurrences_match_the_reference(rows):
    r = make(*zip(*rows, strict=True)) if rows else make([], [], [], [])
    assert first_occurrences(r).tolist() == naive.first_occurrences(r)


def test_first_occurrences_keep_the_earliest_on_random_input():
    rng = np.random.default_rng(3)
    n = 5000
    r = make(
        rng.integers(0, 20, n),
        rng.integers(0, 30, n),
        rng.integers(0, 3, n),
        rng.integers(0, 4, n).astype(float),
    )
    assert first_occurrences(r).tolist() == naive.first_occurrences(r)


def test_replay_filter_suspects_unknown_devices_then_only_older_readings():
    f = ReplayFilter()
    device = np.array([0, 1, 5], np.int32)
    assert f.suspects(device, np.array([1.0, 1.0, 1.0])).tolist() == [True, True, True]
    f.committed(device, np.array([10.0, 20.0, 30.0]))
    got = f.suspects(np.array([0, 0, 1, 5, 7], np.int32), np.array([10.0, 11.0, 19.0, 31.0, 1.0]))
    assert got.tolist() == [True, False, True, False, True]


def test_replay_filter_keeps_the_newest_across_commits_in_any_order():
    f = ReplayFilter()
    f.committed(np.array([3, 3, 3], np.int32), np.array([5.0, 9.0, 7.0]))
    f.committed(np.array([3], np.int32), np.array([6.0]))
    assert f.suspects(np.array([3, 3], np.int32), np.array([9.0, 9.5])).tolist() == [True, False]
