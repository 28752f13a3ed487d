"""Checkpoint files: all or nothing, the newest offered wins, and they load as the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detectors.engine import DetectorEngine
from detectors.registry import Device
from ingest.detection.checkpoint import Checkpointer, write_atomic


class Unwritable:
    """Fails half-way through a checkpoint, as a crash or a full disk would."""

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")


def test_a_failed_write_leaves_the_previous_checkpoint_whole(tmp_path: Path) -> None:
    path = tmp_path / "engine.npz"
    write_atomic(path, {"a": np.arange(3)})
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, {"a": np.arange(1_000_000), "b": Unwritable()})
    with np.load(path) as data:
        assert data["a"].tolist() == [0, 1, 2]


def test_the_writer_writes_the_newest_snapshot_and_the_engine_loads_it(tmp_path: Path) -> None:
    engine = DetectorEngine([Device("sd-1", "smoke", "hh-1"), Device("pir-1", "pir", "hh-1")])
    path = tmp_path / "engine.npz"
    writer = Checkpointer(path)
    for clock in (1.0, 2.0, 3.0):
        engine.clock = clock
        writer.offer(engine.snapshot())
    writer.close()
    assert 1 <= writer.written <= 3
    loaded = DetectorEngine.load(path)
    assert loaded.clock == 3.0
    assert list(loaded.registry.slot_of) == ["sd-1", "pir-1"]
    assert np.array_equal(loaded.state.dev, engine.state.dev, equal_nan=True)
    assert not (tmp_path / "engine.npz.tmp").exists()
