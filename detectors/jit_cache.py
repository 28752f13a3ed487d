"""numba's on-disk cache is keyed by the size and time of the file a kernel is defined in, not
by the files its callees and constants come from (numba issue 6845): after an edit to
detectors/routine.py or routine_columns.py alone, kernels.py's cached machine code would go on
running the old routine, silently, in tests and in the evals. So the kernels' cache carries a
stamp of every source they are built from (`aot.sources`, as the ahead-of-time build does), and
a cache whose stamp no longer holds is dropped before the first kernel loads from it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from detectors import aot

STAMP = "jit-sources.json"


def cache_dir(kernel: object) -> Path | None:
    """Where numba caches a `cache=True` kernel (numba's own choice of folder); None when the
    JIT is off (NUMBA_DISABLE_JIT) and the kernel is a plain function."""
    cache = getattr(kernel, "_cache", None)
    path = getattr(cache, "_cache_path", None)
    return Path(path) if path else None


def stale(stamp: dict[str, Any]) -> bool:
    """Whether the sources a stamp names changed (equal sizes and times spare reading them)."""
    files = [aot.ROOT / f for f in stamp["files"]]
    try:
        if stamp["stats"] == aot.file_stats(files):
            return False
        return bool(stamp["sha256"] != aot.content_hash(files))
    except OSError:  # a source is gone: the kernels import something else now
        return True


def drop_if_stale(cache_dir: Path, entry: Path) -> bool:
    """Drop numba's cached kernels in `cache_dir` unless the stamp there matches the sources
    `entry` is built from; write the fresh stamp. True if the cache was dropped."""
    stamp_file = cache_dir / STAMP
    try:
        stamp = json.loads(stamp_file.read_text())
        if not stale(stamp):
            return False
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no stamp yet, or a broken one: the cache cannot be vouched for
    files = aot.sources(entry)
    for cached in [*cache_dir.glob("*.nbi"), *cache_dir.glob("*.nbc")]:
        cached.unlink(missing_ok=True)
    fresh = {
        "files": [str(f.relative_to(aot.ROOT)) for f in files],
        "stats": aot.file_stats(files),
        "sha256": aot.content_hash(files),
    }
    _write(stamp_file, fresh)
    return True


def _write(path: Path, data: dict[str, Any]) -> None:
    """Write whole or not at all: processes starting together may race here."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=".jit-sources-")
    with os.fdopen(fd, "w") as out:
        json.dump(data, out)
    os.replace(scratch, path)
