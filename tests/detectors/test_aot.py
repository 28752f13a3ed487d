"""detectors.aot: the ahead-of-time kernels score exactly as numba's JIT kernels, and a build
is used only while it matches the sources, the interpreter and the argument types."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bench.detect import make_stream
from detectors import aot
from detectors.engine import Batch, DetectorEngine
from detectors.explain import Event
from detectors.registry import Device

from .helpers import key


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build of this source by this builder: the one `make setup` made (`make test` runs it
    first; its stamp covers aot.py too) when it matches, else one compiled for the test (20 s
    on a shared machine). Tests that alter a build alter a copy."""
    if aot.load(aot.BUILD_DIR) is not None:
        return aot.BUILD_DIR
    directory = tmp_path_factory.mktemp("aot")
    aot.build(directory)
    return directory


def _built(directory: Path) -> list[Path]:
    """The build's library and stamp (BUILD_DIR also holds bytecode and numba's cache)."""
    return sorted(directory.glob(f"{aot.MODULE}*"))


@pytest.fixture
def compiled(build_dir: Path) -> aot.Kernels:
    loaded = aot.load(build_dir)
    assert loaded is not None
    assert loaded.source == "aot"
    return loaded


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch) -> Callable[[aot.Kernels], None]:
    """Make the engine run on given kernels (what `aot.kernels()` hands out)."""

    def set_kernels(k: aot.Kernels) -> None:
        monkeypatch.setattr(aot, "_loaded", k)

    return set_kernels


def _run() -> tuple[list[Event], list[Event], DetectorEngine]:
    """bench-detect's mix (fires, low batteries, silent devices) for 2,000 devices, 20 minutes."""
    stream = make_stream(2_000, 20, seed=3)
    engine = DetectorEngine(stream.devices)
    scored: list[Event] = []
    b = stream.batch
    for lo in range(0, len(b), 7_000):
        part = Batch.of(*(col[lo : lo + 7_000] for col in b.columns()))
        scored += engine.score(part)
    end = float(b.received_at[-1])
    silences = engine.silences(end + 7200.0)  # two hours on: devices and gateways go silent
    for h in ("hh-000001", "hh-000002"):
        engine.set_away(h, away=True, ts=end)
        engine.set_away(h, away=False, ts=end + 60.0)
    return scored, silences, engine


def test_aot_kernels_score_as_the_jit_kernels(
    compiled: aot.Kernels, use: Callable[[aot.Kernels], None]
) -> None:
    use(aot.jit_kernels())
    jit_scored, jit_silences, jit_engine = _run()
    use(compiled)
    aot_scored, aot_silences, aot_engine = _run()
    assert len(jit_scored) >= 5, "the stream raises and clears events"
    assert any(e.kind for e in jit_silences), "the tick raises silences"
    assert [key(e) for e in aot_scored] == [key(e) for e in jit_scored]
    assert [e.score for e in aot_scored] == [e.score for e in jit_scored]
    assert [key(e) for e in aot_silences] == [key(e) for e in jit_silences]
    for name in ("dev_f", "dev_i", "hh_f", "hh_i", "gw_f", "gw_i"):
        np.testing.assert_array_equal(
            getattr(aot_engine.state, name), getattr(jit_engine.state, name), err_msg=name
        )


def test_a_call_of_other_types_runs_on_the_jit_kernel(
    compiled: aot.Kernels, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The extension would read an int32 as the int64 it was built for: such a call goes to
    numba's dispatcher instead, and gives what the compiled kernel gives for the int64."""

    def engine() -> DetectorEngine:
        e = DetectorEngine([Device("pir-1", "pir", "hh-1"), Device("sd-1", "smoke", "hh-1")])
        e.process(Batch.of([1.0, 2.0], [0, 1], [6, 0], [1.0, 0.1]))
        return e

    routed: list[object] = []
    jit = aot.jit_kernels()

    def spy(*args: object) -> object:
        routed.append(args[-1])
        return jit.inactivity_deadline(*args)

    monkeypatch.setattr(
        aot, "jit_kernels", lambda: dataclasses.replace(jit, inactivity_deadline=spy)
    )
    ours, theirs = engine(), engine()
    compiled.inactivity_deadline(ours.state.hh_f, ours.state.hh_i, ours.params, 0)
    assert routed == []
    compiled.inactivity_deadline(theirs.state.hh_f, theirs.state.hh_i, theirs.params, np.int32(0))
    assert routed == [np.int32(0)]
    np.testing.assert_array_equal(ours.state.hh, theirs.state.hh)


def test_a_stamp_that_no_longer_matches_is_not_loaded(build_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "build"
    copy.mkdir()
    for built in _built(build_dir):
        shutil.copy2(built, copy)
    stamp_file = next(copy.glob("*.json"))
    stamp = json.loads(stamp_file.read_text())
    assert aot.load(copy) is not None
    for field, value in (("sha256", "0" * 64), ("numpy", "0.0"), ("python", "2.7")):
        changed = {**stamp, field: value, "stats": []}  # stats differ: the content is hashed
        stamp_file.write_text(json.dumps(changed))
        assert aot.load(copy) is None, field
    older = [f for f in stamp["files"] if f != aot.BUILDER]  # a build from before the builder
    digest = aot.content_hash([aot.ROOT / f for f in older])  # was stamped: its sources hold
    stamp_file.write_text(json.dumps({**stamp, "files": older, "sha256": digest, "stats": []}))
    assert aot.load(copy) is None, "a stamp that does not cover the builder"
    stamp_file.unlink()
    assert aot.load(copy) is None


def test_stats_spare_the_hash_and_content_decides_when_they_differ(build_dir: Path) -> None:
    stamp = json.loads(next(p for p in _built(build_dir) if p.suffix == ".json").read_text())
    assert aot.fresh(stamp)
    assert aot.fresh({**stamp, "stats": []}), "same content, other times: still fresh"
    assert not aot.fresh({**stamp, "stats": [], "sha256": "f" * 64})


def test_sources_follow_the_kernels_imports_and_data() -> None:
    names = {str(p.relative_to(aot.ROOT)) for p in aot.sources()}
    assert {
        "detectors/kernels.py",
        "detectors/routine.py",
        "detectors/state.py",
        "detectors/codes.py",
        "vigil/device_types.py",
        "vigil/device_types.toml",
    } <= names
    assert "detectors/engine.py" not in names  # the engine calls the kernels, not built into them
    built_from = {str(p.relative_to(aot.ROOT)) for p in aot.built_from()}
    assert built_from == names | {aot.BUILDER}, "the builder's own changes rebuild too"


def test_a_detector_scores_its_first_batch_without_numba(build_dir: Path) -> None:
    """The point of the build: a new process imports neither numba nor llvmlite."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from detectors import aot\n"
        f"aot._loaded = aot.load(Path({str(build_dir)!r}))\n"
        "from detectors.engine import Batch, DetectorEngine\n"
        "from detectors.registry import Device\n"
        "e = DetectorEngine([Device('sd-1', 'smoke', 'hh-1')])\n"
        "e.process(Batch.of([1.0], [0], [0], [0.1]))\n"
        "e.tick(2.0)\n"
        "jit = sorted(m for m in sys.modules if m.startswith(('numba', 'llvmlite')))\n"
        "print(aot.kernels().source, jit)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout
    assert out.split(None, 1) == ["aot", "[]\n"]


def test_the_images_warm_up_fills_numbas_cache_without_a_c_compiler(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m detectors.aot --jit` (the Dockerfile's step; the image has no C compiler):
    no ahead-of-time build, and the kernels' machine code is in the cache numba loads from."""

    def no_build(*_: object) -> Path:
        raise AssertionError("--jit must not compile ahead of time")

    exercised: list[int] = []
    exercise = aot._exercise

    def counted() -> dict[str, tuple[object, ...]]:
        exercised.append(1)
        return exercise()

    monkeypatch.setattr(aot, "build", no_build)
    monkeypatch.setattr(aot, "_exercise", counted)
    aot.main(["--jit"])
    assert exercised == [1], "the kernels ran on the JIT, so numba compiled and cached them"
    where = aot.jit_cache_dir()
    assert where is not None
    assert str(where) in capsys.readouterr().out
    indexes = {p.name.split(".")[1].rpartition("-")[0] for p in where.glob("kernels.*.nbi")}
    assert set(aot.NAMES) <= indexes


def test_a_source_edited_while_the_build_compiles_leaves_the_build_stale(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The stamp is of the sources the build read, not of those on disk once it ends: an edit
    made while it compiled runs on the JIT instead of being taken as built (a helper's edit of
    routine.py during `make setup` once ran the older code). numba's compiler is stood in for,
    so no C compiler runs."""
    scratch = aot.ROOT / "var"
    scratch.mkdir(exist_ok=True)
    source = scratch / f"aot-edited-{tmp_path.name}.py"
    source.write_text("LIMIT = 1\n")
    library = aot._paths(tmp_path)[0].name  # the name the build installs

    class StandInCC:
        def __init__(self, _module: str) -> None:
            self.output_dir = ""
            self.target_cpu = ""

        def export(self, *_: object) -> Callable[[object], object]:
            return lambda f: f

        def compile(self) -> None:
            source.write_text("LIMIT = 2  # edited while the build compiled\n")
            (Path(self.output_dir) / library).write_bytes(b"")

    with warnings.catch_warnings():  # pycc is "pending deprecation", as aot.build says
        warnings.simplefilter("ignore")
        import numba.pycc.cc

    monkeypatch.setattr(numba.pycc.cc, "CC", StandInCC)
    monkeypatch.setattr(aot, "built_from", lambda: [aot.ROOT / aot.BUILDER, source])
    try:
        aot.build(tmp_path)
        stamp = json.loads(aot._paths(tmp_path)[1].read_text())
        assert stamp["files"] == [aot.BUILDER, str(source.relative_to(aot.ROOT))]
        assert not aot.fresh(stamp), "the edit made during the build is not taken as built"
        source.write_text("LIMIT = 1\n")  # the content the build read: the stamp holds again
        assert aot.fresh({**stamp, "stats": []})
    finally:
        source.unlink()
