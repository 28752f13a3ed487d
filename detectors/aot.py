"""The engine's sequential kernels compiled ahead of time, so a detector starts without numba.

Importing numba and readying its JIT target on the first call costs about half a second before
any cached kernel runs, more on a busy machine: the whole of a detector's start-up budget.
`python -m detectors.aot` (run by `make setup`) compiles the very functions of detectors.kernels
(which stay `cache=True` JIT kernels, tested against the slow reference) into an extension module
with numba.pycc, and writes a stamp beside it: a hash of every source file the kernels are built
from (their constants are folded into the code; the files' sizes and times spare re-reading them
at start-up), the Python and numpy versions, and the CPU. numba marks pycc "pending deprecation"
with its replacement not yet released; without a build everything still runs, on the JIT.

`kernels()` gives the engine that module while its stamp matches, and numba's JIT kernels
otherwise: the same code either way, only the start-up differs. The extension does not check
its arguments' types (numba's ahead-of-time unboxing trusts them), so each call's array dtypes,
dimensions and layouts are checked against those the build compiled for; a call that does not
match goes to the JIT kernel instead.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import platform
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import ast

NAMES = ("process_rows", "tick_rows", "inactivity_deadline")
MODULE = "vigil_detector_kernels"
BUILD_DIR = Path(__file__).resolve().parent / "__pycache__"
ROOT = Path(__file__).resolve().parent.parent  # where the `detectors` and `vigil` packages are
PACKAGES = ("detectors", "vigil")
BUILDER = "detectors/aot.py"  # this file, in every stamp: how the kernels are compiled

Key = str | list["Key"]


@dataclass(frozen=True)
class Kernels:
    """The three kernels the sequential engine calls, and where they come from."""

    process_rows: Callable[..., Any]
    tick_rows: Callable[..., Any]
    inactivity_deadline: Callable[..., Any]
    source: str  # "aot" or "jit"


_loaded: Kernels | None = None


def kernels() -> Kernels:
    """The ahead-of-time kernels if a build matching this source is at hand, else numba's JIT."""
    global _loaded  # noqa: PLW0603 - loaded once per process, on the first batch
    if _loaded is None:
        _loaded = load(BUILD_DIR) or jit_kernels()
    return _loaded


def jit_kernels() -> Kernels:
    from detectors import kernels as jit

    return Kernels(jit.process_rows, jit.tick_rows, jit.inactivity_deadline, "jit")


def arg_key(value: object) -> Key:
    """What numba would compile a call for: dtype, dimensions and layout of each array."""
    if isinstance(value, np.ndarray):
        layout = "C" if value.flags.c_contiguous else "F" if value.flags.f_contiguous else "A"
        return f"{value.dtype.str}/{value.ndim}/{layout}"
    if isinstance(value, tuple):
        return [arg_key(v) for v in value]
    return np.asarray(value).dtype.str  # a scalar: numba types an int as int64, etc.


@dataclass(frozen=True)
class Checked:
    """An ahead-of-time kernel that only runs calls of the types it was compiled for."""

    compiled: Callable[..., Any]
    expected: Key
    name: str

    def __call__(self, *args: object) -> Any:
        if arg_key(args) == self.expected:
            return self.compiled(*args)
        return getattr(jit_kernels(), self.name)(*args)


def sources(entry: Path = ROOT / "detectors" / "kernels.py") -> list[Path]:
    """The project files the kernels are built from: their imports, recursively, and the data
    files (TOML) those modules read by name."""
    import ast  # only a build walks the sources: not on a detector's start-up path

    seen: dict[Path, None] = {}
    todo = [entry]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen[path] = None
        text = path.read_text(encoding="utf-8")
        todo += [p for p in _imported(ast.parse(text)) if p not in seen]
        seen.update({t: None for t in sorted(path.parent.glob("*.toml")) if t.name in text})
    return sorted(seen)


def built_from() -> list[Path]:
    """What a build's stamp covers: the kernels' sources and this builder, so a change to how
    they are compiled also makes `make setup` build again (and the tests use that build)."""
    return sorted({*sources(), ROOT / BUILDER})


def _imported(tree: ast.Module) -> Iterator[Path]:
    import ast

    # Module-level imports only: a helper's lazy import (kernels.py's cache check) is not code
    # the kernels are compiled from.
    for node in tree.body:
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            if name.split(".")[0] in PACKAGES:
                yield from _module_file(name)


def _module_file(name: str) -> Iterator[Path]:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            yield candidate


def stamp_of(files: list[Path]) -> dict[str, Any]:
    """What the compiled module depends on; a build is used only while this is unchanged."""
    return {
        "files": [str(p.relative_to(ROOT)) for p in files],
        "sha256": content_hash(files),
        "python": sys.version,
        "numpy": np.__version__,
        "cpu": _cpu(),
    }


def content_hash(files: list[Path]) -> str:
    import hashlib  # only when a file's size or time changed since the build, or at a build

    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def file_stats(files: list[Path]) -> list[list[int]]:
    """Size and modification time of each file: a stamp that spares reading unchanged sources."""
    return [[s.st_size, s.st_mtime_ns] for s in (p.stat() for p in files)]


def fresh(stamp: Mapping[str, Any]) -> bool:
    """Whether a build's stamp still holds: same Python, numpy and CPU, and sources of the same
    content (unchanged sizes and times spare reading them)."""
    files = [ROOT / f for f in stamp["files"]]
    same = (stamp["python"], stamp["numpy"], stamp["cpu"]) == (sys.version, np.__version__, _cpu())
    if not same or BUILDER not in stamp["files"]:  # a stamp from before it covered the builder
        return False
    return bool(stamp["stats"] == file_stats(files) or stamp["sha256"] == content_hash(files))


def _cpu() -> str:
    """The processor the code was compiled for (it uses the host's instruction set)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return f"{platform.machine()} {platform.processor()}"
    lines = {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in info.splitlines())}
    return f"{platform.machine()} {lines.get('model name', '')} {lines.get('flags', '')}"


def _paths(directory: Path) -> tuple[Path, Path]:
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    return directory / f"{MODULE}{suffix}", directory / f"{MODULE}.json"


def load(directory: Path) -> Kernels | None:
    """The compiled kernels in `directory`, or None if there are none or they are stale."""
    library, stamp_file = _paths(directory)
    try:
        stamp = json.loads(stamp_file.read_text())
        if not fresh(stamp) or not library.is_file():
            return None
    except (OSError, ValueError, KeyError):
        return None
    spec = importlib.util.spec_from_file_location(MODULE, library)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    compiled = {n: Checked(getattr(module, n), stamp["args"][n], n) for n in NAMES}
    return Kernels(**compiled, source="aot")


def build(directory: Path = BUILD_DIR) -> Path:
    """Compile the kernels for the argument types the engine passes them (a minute or two;
    needs a C compiler) and write the stamp last, so a half-done build is never used."""
    import tempfile
    import warnings

    with warnings.catch_warnings():  # pycc is "pending deprecation", with no replacement yet
        warnings.simplefilter("ignore")
        from numba.pycc.cc import CC

    # The stamp of the sources as they are before the build imports them: an edit made while it
    # compiles leaves the build stale (the JIT runs the new code) instead of stamped as new.
    files = built_from()
    before = {**stamp_of(files), "stats": file_stats(files)}
    calls = _exercise()
    jit = jit_kernels()
    library, stamp_file = _paths(directory)
    stamp_file.unlink(missing_ok=True)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        cc = CC(MODULE)
        cc.output_dir = scratch
        cc.target_cpu = "host"  # as the JIT compiles; the stamp names the CPU
        for name in NAMES:
            dispatcher = getattr(jit, name)
            types = tuple(dispatcher.typeof_pyval(a) for a in calls[name])
            signature = next(s for s in dispatcher.nopython_signatures if s.args == types)
            cc.export(name, signature)(dispatcher.py_func)
        cc.compile()
        # A rename, not a rewrite: processes running the old library keep their mapped copy.
        os.replace(Path(scratch) / library.name, library)
        stamp = {**before, "args": {n: arg_key(calls[n]) for n in NAMES}}
        (Path(scratch) / stamp_file.name).write_text(json.dumps(stamp, indent=1))
        os.replace(Path(scratch) / stamp_file.name, stamp_file)
    return library


def _exercise() -> dict[str, tuple[object, ...]]:
    """Run a small engine on the JIT kernels; the arguments each kernel was called with."""
    from detectors.engine import Batch, DetectorEngine
    from detectors.registry import Device

    global _loaded  # noqa: PLW0603 - the build drives the engine on recording JIT kernels
    jit = jit_kernels()
    calls: dict[str, tuple[object, ...]] = {}

    def recording(name: str) -> Callable[..., Any]:
        def call(*args: object) -> Any:
            calls[name] = args
            return getattr(jit, name)(*args)

        return call

    _loaded = Kernels(**{n: recording(n) for n in NAMES}, source="jit")
    try:
        engine = DetectorEngine([Device("sd-1", "smoke", "hh-1"), Device("pir-1", "pir", "hh-1")])
        engine.process(Batch.of([1.0, 2.0], [0, 1], [0, 6], [0.1, 1.0]))
        engine.tick(3.0)
        engine.set_away("hh-1", away=False, ts=4.0)
    finally:
        _loaded = None
    return calls


def main(argv: list[str]) -> None:
    """`python -m detectors.aot [--if-stale]`: compile (only when the build is missing or stale).
    `--jit` fills numba's on-disk cache instead, with no C compiler: what the image does, so a
    restarted container's detectors score at once instead of compiling for half a minute."""
    if "--jit" in argv:
        _exercise()
        print(f"numba's cache of the detector kernels is warm: {jit_cache_dir()}")
        return
    if "--if-stale" in argv and load(BUILD_DIR) is not None:
        return
    print(f"detector kernels compiled ahead of time: {build()}")


def jit_cache_dir() -> Path | None:
    """Where numba keeps the JIT kernels' machine code (None with the JIT off)."""
    from detectors import kernels as jit
    from detectors.jit_cache import cache_dir

    return cache_dir(jit.process_rows)


if __name__ == "__main__":
    from detectors import aot  # noqa: PLW0406 - the copy the engine reads, not __main__

    aot.main(sys.argv[1:])
