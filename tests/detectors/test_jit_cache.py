"""numba's cache of the kernels is dropped when any source they are built from changed, not
only kernels.py (numba keys it by the defining file alone)."""

from __future__ import annotations

import json
from pathlib import Path

from detectors import jit_cache, kernels

ENTRY = Path(kernels.__file__)


def _cached(cache: Path) -> list[Path]:
    names = ["kernels.process_rows-1.py311.nbi", "kernels.process_rows-1.py311.0.nbc"]
    for name in names:
        (cache / name).write_bytes(b"machine code")
    return [cache / n for n in names]


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
    files = _cached(tmp_path)
    assert jit_cache.drop_if_stale(tmp_path, ENTRY)
    assert not any(f.exists() for f in files)
    files = _cached(tmp_path)
    assert not jit_cache.drop_if_stale(tmp_path, ENTRY)
    assert all(f.exists() for f in files)


def test_a_callee_changed_drops_the_cache_though_kernels_py_did_not(tmp_path: Path) -> None:
    jit_cache.drop_if_stale(tmp_path, ENTRY)
    stamp_file = tmp_path / jit_cache.STAMP
    stamp = json.loads(stamp_file.read_text())
    routine = stamp["files"].index("detectors/routine.py")
    # As the stamp of a routine.py of other content and time: kernels.py's entry is untouched.
    stamp["stats"][routine][1] -= 1
    stamp["sha256"] = "0" * 64
    stamp_file.write_text(json.dumps(stamp))
    files = _cached(tmp_path)
    assert jit_cache.drop_if_stale(tmp_path, ENTRY)
    assert not any(f.exists() for f in files)
    assert not jit_cache.stale(json.loads(stamp_file.read_text()))


def test_a_new_time_with_the_same_content_keeps_the_cache(tmp_path: Path) -> None:
    jit_cache.drop_if_stale(tmp_path, ENTRY)
    stamp_file = tmp_path / jit_cache.STAMP
    stamp = json.loads(stamp_file.read_text())
    stamp["stats"][0][1] -= 1  # a checkout rewrote a file with the same bytes
    stamp_file.write_text(json.dumps(stamp))
    files = _cached(tmp_path)
    assert not jit_cache.drop_if_stale(tmp_path, ENTRY)
    assert all(f.exists() for f in files)


def test_a_source_gone_or_a_broken_stamp_drops_the_cache(tmp_path: Path) -> None:
    jit_cache.drop_if_stale(tmp_path, ENTRY)
    stamp_file = tmp_path / jit_cache.STAMP
    stamp = json.loads(stamp_file.read_text())
    stamp["files"][0] = "detectors/gone.py"
    stamp_file.write_text(json.dumps(stamp))
    files = _cached(tmp_path)
    assert jit_cache.drop_if_stale(tmp_path, ENTRY)
    assert not any(f.exists() for f in files)
    stamp_file.write_text("{not json")
    files = _cached(tmp_path)
    assert jit_cache.drop_if_stale(tmp_path, ENTRY)
    assert not any(f.exists() for f in files)
