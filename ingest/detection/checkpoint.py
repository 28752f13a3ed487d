"""The detector stage's state on disk: written atomically, off the engine thread.

A checkpoint is one .npz file (the engine's arrays, as `DetectorEngine.save` writes them, plus
what the stage adds). It is written to a temporary file beside the target, fsynced, renamed over
the target and the directory fsynced, so a crash at any point leaves either the previous
checkpoint or the new one, never a half-written file. The engine thread only copies the arrays
(`DetectorEngine.snapshot`); the slow part (the write and the fsync) runs on the writer thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def write_atomic(path: Path, arrays: Mapping[str, Any]) -> None:
    """Write `arrays` as an uncompressed .npz at `path`, all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


class Checkpointer:
    """One writer thread; `offer` hands it a snapshot without waiting. A snapshot offered while
    the previous one is still being written replaces the one waiting (only the newest counts)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        self.last_write_s = 0.0  # seconds the last write (with fsync) took
        self._lock = threading.Condition()
        self._waiting: Mapping[str, Any] | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="detector-checkpoint", daemon=True)
        self._thread.start()

    def offer(self, arrays: Mapping[str, Any]) -> None:
        with self._lock:
            self._waiting = arrays
            self._lock.notify()

    def close(self) -> None:
        """Write what is waiting, then stop the thread."""
        with self._lock:
            self._closing = True
            self._lock.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._waiting is None and not self._closing:
                    self._lock.wait()
                arrays, self._waiting = self._waiting, None
                if arrays is None:
                    return
            started = time.perf_counter()
            try:
                write_atomic(self.path, arrays)
            except OSError as exc:  # the next checkpoint tries again
                log.error("cannot write the detector checkpoint %s: %s", self.path, exc)
                continue
            self.last_write_s = time.perf_counter() - started
            self.written += 1
