"""numba's cache of the kernels is dropped when any source they are built from changed, not
only kernels.py (numba keys it by the defining file alone)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from detectors import jit_cache, kernels

ENTRY = Path(kernels.__file__)


def _cached(cache: Path) -> list[Path]:
    names = ["kernels.process_rows-1.py311.nbi", "kernels.process_rows-1.py311.0.nbc"]
    for name in names:
        (cache / name).write_bytes(b"machine code")
    return [cache / n for n in names]


def _drops(cache: Path) -> bool:
    """Put cache files in `cache`, run the check: were they dropped (all) or kept (all)?"""
    files = _cached(cache)
    dropped = jit_cache.drop_if_stale(cache, ENTRY)
    assert [f.exists() for f in files] == [not dropped] * len(files)
    return dropped


def _stamped(cache: Path) -> tuple[Path, dict[str, Any]]:
    """A fresh stamp in `cache`: its file and its content, to be altered by a test."""
    jit_cache.drop_if_stale(cache, ENTRY)
    stamp_file = cache / jit_cache.STAMP
    return stamp_file, json.loads(stamp_file.read_text())


def test_importing_the_kernels_leaves_a_stamp_that_holds_beside_their_cache() -> None:
    cache = jit_cache.cache_dir(kernels.process_rows)
    assert cache is not None
    stamp = json.loads((cache / jit_cache.STAMP).read_text())
    assert "detectors/routine.py" in stamp["files"]
    assert "detectors/routine_columns.py" in stamp["files"]
    assert not jit_cache.stale(stamp)


def test_a_cache_without_a_stamp_is_dropped_and_one_with_a_holding_stamp_is_kept(
    tmp_path: Path,
) -> None:
    assert _drops(tmp_path)
    assert not _drops(tmp_path)


def test_a_callee_changed_drops_the_cache_though_kernels_py_did_not(tmp_path: Path) -> None:
    stamp_file, stamp = _stamped(tmp_path)
    routine = stamp["files"].index("detectors/routine.py")
    # As the stamp of a routine.py of other content and time: kernels.py's entry is untouched.
    stamp["stats"][routine][1] -= 1
    stamp["sha256"] = "0" * 64
    stamp_file.write_text(json.dumps(stamp))
    assert _drops(tmp_path)
    assert not jit_cache.stale(json.loads(stamp_file.read_text()))


def test_a_new_time_with_the_same_content_keeps_the_cache(tmp_path: Path) -> None:
    stamp_file, stamp = _stamped(tmp_path)
    stamp["stats"][0][1] -= 1  # a checkout rewrote a file with the same bytes
    stamp_file.write_text(json.dumps(stamp))
    assert not _drops(tmp_path)


def test_a_source_gone_or_a_broken_stamp_drops_the_cache(tmp_path: Path) -> None:
    stamp_file, stamp = _stamped(tmp_path)
    stamp["files"][0] = "detectors/gone.py"
    stamp_file.write_text(json.dumps(stamp))
    assert _drops(tmp_path)
    stamp_file.write_text("{not json")
    assert _drops(tmp_path)
