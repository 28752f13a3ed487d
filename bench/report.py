"""`make bench`: run every benchmark of the project and write their figures into the docs.

Each benchmark is a module whose last line of output is one JSON object. They run one after the
other (the machine has two cores; two benchmarks at once would measure each other), each in a
process of its own with its output kept under `var/bench/`. The figures go into the generated
part of `docs/performance.md`, between two markers, with each benchmark's baseline from the same
run, its ratio, and its target where the issue set one; the hand-written analysis around the
markers is left as it is.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

START = "<!-- bench-report:start (written by `make bench`; edit outside these markers) -->"
END = "<!-- bench-report:end -->"

Result = Mapping[str, Any]


@dataclass(frozen=True)
class Figure:
    """One number a benchmark reports, by its JSON key (`a.b` reaches into nested objects)."""

    key: str
    label: str
    unit: str = ""

    def value(self, result: Result) -> Any:
        node: Any = result
        for part in self.key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        return node


@dataclass(frozen=True)
class Target:
    """A bar a figure must clear: `at_least` the bound, or below it (`or_equal`: at most)."""

    figure: Figure
    bound: float
    at_least: bool = True
    or_equal: bool = False

    def text(self) -> str:
        sign = "≥" if self.at_least else "≤" if self.or_equal else "<"
        return f"{self.figure.label} {sign} {_number(self.bound)}{self.figure.unit}"

    def met(self, result: Result) -> bool | None:
        value = self.figure.value(result)
        if not isinstance(value, int | float):
            return None
        if self.at_least:
            return value >= self.bound
        return value <= self.bound if self.or_equal else value < self.bound


@dataclass(frozen=True)
class Bench:
    """A benchmark: how to run it, what it measures, its baseline, and its targets."""

    name: str  # the make target is bench-<name>
    module: str
    what: str
    figures: tuple[Figure, ...]
    baseline: Figure | None = None
    ratio: Figure | None = None
    targets: tuple[Target, ...] = ()
    args: tuple[str, ...] = ()
    checks: tuple[Callable[[Result], tuple[str, bool | None]], ...] = field(default=())
    # (benchmark, JSON key) of the same run whose figure this one is handed as its floor
    floor: tuple[str, str] | None = None


def _stored_all(result: Result) -> tuple[str, bool | None]:
    published, stored = result.get("published_readings"), result.get("stored_readings")
    if published is None or stored is None:
        return "stored = published", None
    return f"stored = published ({_number(stored)} = {_number(published)})", stored == published


def _same_rows(result: Result) -> tuple[str, bool | None]:
    same = result.get("queries_same")
    if not isinstance(same, dict) or not same:
        return "the same rows from compressed chunks", None
    return "the same rows from compressed chunks", all(same.values()) and bool(
        result.get("dedup_found_exactly_the_stored")
    )


def _memory_flat(result: Result) -> tuple[str, bool | None]:
    first, last = result.get("rss_first_quarter_mb"), result.get("rss_last_quarter_mb")
    if not isinstance(first, int | float) or not isinstance(last, int | float):
        return "memory flat", None
    # Flat: the last quarter of the run within 5 % of the first (allocator noise is ~1 MB).
    return f"memory flat (RSS {first} → {last} MB)", abs(last - first) <= 0.05 * first


def _all_received(result: Result) -> tuple[str, bool | None]:
    sent, got = result.get("presses"), result.get("received")
    if sent is None or got is None:
        return "every press received", None
    return f"every press received ({got}/{sent})", sent == got


INGEST_RATE = Figure("readings_per_s", "readings/s sustained, committed", "")
LATENCY_P99 = Figure("p99_ms", "p99", " ms")
SHARE_OF_FLOOR = Figure("share_of_floor", "share of the database-side floor (no_dedup)")
COMPRESSED_BYTES = Figure("compressed_bytes_per_reading", "bytes per reading, compressed")
CLOSED_BYTES = Figure("closed_bytes_per_reading", "bytes per reading, closed chunk packed")
BENCHES: tuple[Bench, ...] = (
    Bench(
        "gateway",
        "bench.gateway",
        "one gateway process through the real broker to a subscriber",
        (
            Figure("readings_per_s", "readings/s"),
            Figure("panic_p50_ms", "panic p50", " ms"),
            Figure("panic_p99_ms", "panic p99", " ms"),
        ),
        baseline=Figure("baseline_readings_per_s", "one message per frame, readings/s"),
        ratio=Figure("ratio", "ratio"),
    ),
    Bench(
        "sim",
        "bench.sim",
        "one simulator process feeding its gateways' sockets",
        (Figure("readings_per_s", "readings/s"),),
        baseline=Figure("baseline_readings_per_s", "bare send of pre-encoded frames, readings/s"),
        ratio=Figure("ratio", "ratio"),
    ),
    Bench(
        "detect",
        "bench.detect",
        "the numba detector core on a realistic mix for 100,000 devices",
        (
            Figure("readings_per_s", "readings/s, one thread"),
            Figure("parallel_readings_per_s", "readings/s, one thread per core"),
            Figure("warm_start_s", "warm start, slowest of 3", " s"),
        ),
        baseline=Figure("reference_readings_per_s", "plain-Python reference, readings/s"),
        ratio=Figure("ratio", "ratio"),
        targets=(
            Target(Figure("readings_per_s", "readings/s, one thread"), 20e6),
            Target(Figure("warm_start_s", "warm start, slowest of 3", " s"), 0.5, at_least=False),
        ),
    ),
    Bench(
        "routines",
        "bench.routines",
        "wellness checks on 21 generated households of seven kinds, 60 days each, with collapses",
        (
            Figure("false_per_30d", "false checks / household / 30 d"),
            Figure("day_median_h", "daytime collapse, median delay", " h"),
        ),
        baseline=Figure("baseline_false_per_30d", "fixed 4 h silence rule, false / hh / 30 d"),
        ratio=Figure("ratio", "ratio"),
        targets=(
            Target(
                Figure("false_per_30d", "false checks / household / 30 d"), 0.5001, at_least=False
            ),
        ),
    ),
    Bench(
        "ingest-dedup",
        "bench.ingest_dedup",
        "four ways of deduplicating the same batches, database side",
        (
            Figure("message", "message claim + replay filter, readings/s"),
            Figure("message_replays", "the same, every reading a replay, readings/s"),
            Figure("no_dedup", "no deduplication (floor), readings/s"),
        ),
        baseline=Figure("unique_index", "unique index per reading, readings/s"),
        ratio=Figure("message_over_unique_index", "ratio"),
    ),
    Bench(
        "ingest",
        "bench.ingest",
        "a gateway stream through the real broker into TimescaleDB, 60 s sustained",
        (
            INGEST_RATE,
            SHARE_OF_FLOOR,
            Figure("bytes_per_reading", "bytes per stored reading"),
            Figure("peak_rss_mb", "peak RSS", " MB"),
            Figure("commit_ms_mean", "commit mean", " ms"),
        ),
        baseline=Figure("baseline_readings_per_s", "naive pipeline, readings/s"),
        ratio=Figure("ratio", "ratio"),
        targets=(
            Target(INGEST_RATE, 150_000),
            Target(Figure("ratio", "ratio", "×"), 20),
            Target(SHARE_OF_FLOOR, 0.9),  # issue 23, on a quiet machine
        ),
        args=("--full",),
        checks=(_stored_all, _memory_flat),
        floor=("ingest-dedup", "no_dedup"),
    ),
    Bench(
        "storage",
        "bench.storage",
        "bytes per raw reading, table and indexes (Apache edition), a million readings a chunk",
        (
            CLOSED_BYTES,
            Figure("hot_bytes_per_reading", "current chunk as ingested"),
            Figure("closed_index_bytes_per_reading", "indexes of the packed chunk"),
            Figure("pack_s", "packing took", " s"),
        ),
        baseline=Figure("closed_as_ingested_bytes_per_reading", "the closed chunk before packing"),
        ratio=Figure("ratio", "ratio"),
        targets=(Target(CLOSED_BYTES, 60, at_least=False, or_equal=True),),  # issue 23
    ),
    Bench(
        "compression",
        "bench.compression",
        "a day of the district compressed by the community edition (PGlite + TimescaleDB TSL)",
        (
            COMPRESSED_BYTES,
            Figure("hypertable_bytes_per_reading_after", "whole hypertable after compression"),
        ),
        baseline=Figure("pglite_uncompressed_bytes_per_reading", "uncompressed, same rows"),
        ratio=Figure("ratio", "ratio"),
        targets=(Target(COMPRESSED_BYTES, 6, at_least=False, or_equal=True),),  # issue 23
        checks=(_same_rows,),
    ),
    Bench(
        "alerting",
        "bench.alerting",
        "an alert's commit to a live-stream client",
        (Figure("p50_ms", "p50", " ms"), Figure("p99_ms", "p99", " ms")),
        baseline=Figure("baseline_notify_p50_ms", "INSERT + NOTIFY p50", " ms"),
        ratio=Figure("p50_ratio_to_notify", "p50 ratio"),
    ),
    Bench(
        "broker-auth",
        "bench.broker_auth",
        "revoking a gateway: dynamic security against a password file + SIGHUP",
        (Figure("dynamic_security.kick_ms_median", "revoked to disconnected", " ms"),),
        baseline=Figure("password_file_sighup.kick_ms_median", "password file + SIGHUP", " ms"),
        ratio=Figure("kick_ratio_file_over_dynsec", "ratio"),
    ),
    Bench(
        "latency",
        "bench.latency",
        "a panic press to the console's live stream through the whole pipeline, under load",
        (
            Figure("p50_ms", "p50", " ms"),
            Figure("p95_ms", "p95", " ms"),
            LATENCY_P99,
            Figure("max_ms", "max", " ms"),
            Figure("load_readings_per_s", "background load stored, readings/s"),
        ),
        baseline=Figure("baseline_notify_p50_ms", "INSERT + NOTIFY p50", " ms"),
        ratio=Figure("p50_ratio_to_notify", "p50 ratio"),
        targets=(
            Target(LATENCY_P99, 250, at_least=False),
            Target(Figure("load_readings_per_s", "load, readings/s"), 50_000),
        ),
        checks=(_all_received,),
    ),
)


@dataclass(frozen=True)
class Outcome:
    bench: Bench
    result: Result | None
    seconds: float
    error: str | None = None


def last_json(lines: Iterable[str]) -> Result:
    """The last line that is a JSON object: every benchmark ends its output with one."""
    for raw in reversed(list(lines)):
        line = raw.strip()
        if line.startswith("{"):
            value = json.loads(line)
            if isinstance(value, dict):
                return value
    raise ValueError("the benchmark printed no JSON object as its last line")


def run_bench(bench: Bench, log_dir: Path, on_line: Callable[[str], None]) -> Outcome:
    """Run one benchmark in a process of its own; its whole output goes to `log_dir`."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{bench.name}.log"
    started = time.monotonic()
    lines: list[str] = []
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", bench.module, *bench.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            sink.write(line)
            lines.append(line)
            on_line(line.rstrip())
        code = proc.wait()
    seconds = time.monotonic() - started
    if code != 0:
        return Outcome(bench, None, seconds, f"exited with {code}; output in {log}")
    try:
        return Outcome(bench, last_json(lines), seconds)
    except ValueError as exc:
        return Outcome(bench, None, seconds, f"{exc}; output in {log}")


def with_floor(bench: Bench, outcomes: Iterable[Outcome]) -> Bench:
    """`bench` handed its floor from the outcome of the same run that measured it, if any."""
    if bench.floor is None:
        return bench
    name, key = bench.floor
    for o in outcomes:
        if o.bench.name == name and o.result is not None:
            value = Figure(key, key).value(o.result)
            if isinstance(value, int | float) and value > 0:
                return replace(bench, args=(*bench.args, "--floor-readings-per-s", str(value)))
    return bench


@dataclass(frozen=True)
class Previous:
    """The run whose figures the document held before this one: when, and its raw results."""

    when: str
    results: Mapping[str, Result]

    @classmethod
    def of(cls, text: str) -> Previous | None:
        if START not in text or END not in text:
            return None
        section = text.split(START, 1)[1].split(END, 1)[0]
        stamp = re.search(r"^(\d{4}-\d\d-\d\d \d\d:\d\d UTC), commit `(\w+)`", section, re.M)
        results = {}
        for match in re.finditer(r"^- `make bench-([\w-]+)` \([^)]*\): `(\{.*\})`$", section, re.M):
            value = json.loads(match.group(2))
            if isinstance(value, dict):
                results[match.group(1)] = value
        if stamp is None or not results:
            return None
        return cls(f"{stamp.group(1)}, `{stamp.group(2)}`", results)


@dataclass(frozen=True)
class Machine:
    """Where and when the run happened, so a reader can weigh the figures."""

    date: str
    commit: str
    cores: int
    load_before: float
    load_after: float

    @classmethod
    def now(cls, repo: Path, load_before: float) -> Machine:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        return cls(
            datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            commit or "unknown",
            os.cpu_count() or 1,
            load_before,
            os.getloadavg()[0],
        )


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "–" if value is None else str(value)
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{int(value):,}"


def _mark(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "not measured"}[met]


def render(outcomes: list[Outcome], machine: Machine, previous: Previous | None = None) -> str:
    """The generated section of docs/performance.md, markers included."""
    out = [
        START,
        "## Latest `make bench` run",
        "",
        f"{machine.date}, commit `{machine.commit}`, {machine.cores} cores, load average "
        f"{machine.load_before:.2f} before and {machine.load_after:.2f} after the run (the "
        "machine is shared: compare the ratios, each against a baseline measured in the same "
        "run, rather than absolute figures across runs). Each benchmark's full output is under "
        "`var/bench/`; the sections below this one explain the methods.",
        "",
        "| benchmark | what | figures | baseline (same run) | ratio |",
        "| --- | --- | --- | --- | ---: |",
    ]
    for o in outcomes:
        out.append(_row(o))
    out += ["", "### Targets", "", "| benchmark | target | met |", "| --- | --- | --- |"]
    for o in outcomes:
        out += _target_rows(o)
    sizing = _sizing(outcomes)
    if sizing:
        out += ["", "### Sizing from this run", "", *sizing]
    costs = _cost_rows(outcomes, previous)
    if costs:
        when = previous.when if previous is not None else "none in this document"
        out += [
            "",
            "### What a reading costs (`bench-ingest`), beside the previous run",
            "",
            f"Previous run: {when}. CPU seconds are per million stored readings, each process "
            "with its children (PostgreSQL: the server and every backend); bytes are the "
            "readings table with its indexes over its rows; the share is ingest's readings/s "
            "over `bench-ingest-dedup`'s `no_dedup` of the same run.",
            "",
            "| figure | this run | previous run | this / previous |",
            "| --- | ---: | ---: | ---: |",
            *costs,
        ]
    out += ["", "### Raw results", ""]
    for o in outcomes:
        body = json.dumps(o.result) if o.result is not None else f"failed: {o.error}"
        out.append(f"- `make bench-{o.bench.name}` ({o.seconds:.0f} s): `{body}`")
    out.append(END)
    return "\n".join(out) + "\n"


def _row(o: Outcome) -> str:
    b = o.bench
    if o.result is None:
        return f"| `bench-{b.name}` | {b.what} | failed: {o.error} | – | – |"
    figures = "; ".join(f"{f.label} {_number(f.value(o.result))}{f.unit}" for f in b.figures)
    base = "–"
    if b.baseline is not None:
        base = f"{b.baseline.label} {_number(b.baseline.value(o.result))}{b.baseline.unit}"
    ratio = f"{_number(b.ratio.value(o.result))}×" if b.ratio is not None else "–"
    return f"| `bench-{b.name}` | {b.what} | {figures} | {base} | {ratio} |"


def _target_rows(o: Outcome) -> list[str]:
    rows = []
    result = o.result or {}
    for t in o.bench.targets:
        rows.append(f"| `bench-{o.bench.name}` | {t.text()} | {_mark(t.met(result))} |")
    for check in o.bench.checks:
        text, met = check(result)
        rows.append(f"| `bench-{o.bench.name}` | {text} | {_mark(met)} |")
    return rows


# A home as docs/deployment.md counts it: a smoke detector (smoke, temperature, battery) and a
# panic button (battery), each reporting once a minute.
READINGS_PER_HOME_S = 4 / 60


def _sizing(outcomes: list[Outcome]) -> list[str]:
    storage = next((o.result for o in outcomes if o.bench.name == "storage" and o.result), None)
    packed = storage.get("closed_bytes_per_reading") if storage else None
    hot = storage.get("hot_bytes_per_reading") if storage else None
    lines = _ingest_sizing(outcomes)
    if isinstance(packed, int | float) and isinstance(hot, int | float):
        lines.append(
            f"- Storage (`bench-storage`): {packed:.1f} bytes per raw reading in a closed chunk "
            f"after packing ({packed * 1e6 / 2**20:.0f} MiB per million readings), "
            f"{hot:.1f} in the current chunk as ingested."
        )
    return lines


def _ingest_sizing(outcomes: list[Outcome]) -> list[str]:
    ingest = next((o for o in outcomes if o.bench.name == "ingest" and o.result), None)
    if ingest is None or ingest.result is None:
        return []
    rate = float(ingest.result["readings_per_s"])
    lines = [
        f"- One ingest worker (with broker, database and load generator on the same 2 cores) "
        f"sustained {_number(round(rate))} readings/s.",
        f"- Planned at half of that (headroom for a storm or a restart's backlog), one such "
        f"node carries about {_number(round(rate / 2 / READINGS_PER_HOME_S, -3))} homes of a "
        "smoke detector and a panic button each reporting once a minute "
        f"({READINGS_PER_HOME_S * 60:.0f} readings per home per minute), by ingest throughput "
        "alone: the benchmark's district has 4,000 devices, so what grows with the number of "
        "devices (detector state, registry, gateway connections) is not measured at that scale.",
    ]
    per_reading = ingest.result.get("bytes_per_reading")
    if isinstance(per_reading, int | float):
        lines.append(
            f"- Storage after `bench-ingest`: {per_reading:.0f} bytes per raw reading (table "
            f"and indexes, uncompressed, the current chunk), {per_reading * 1e6 / 2**20:.0f} MiB "
            "per million readings."
        )
    return lines


COST_FIGURES = (
    Figure("bytes_per_reading", "bytes per stored reading"),
    Figure("cpu_s_per_million_readings.ingest", "CPU s / million: ingest process"),
    Figure("cpu_s_per_million_readings.postgres", "CPU s / million: PostgreSQL"),
    Figure("cpu_s_per_million_readings.publisher", "CPU s / million: load generator"),
    Figure("cpu_s_per_million_readings.broker", "CPU s / million: broker"),
    SHARE_OF_FLOOR,
    INGEST_RATE,
)


def share_of_floor_in(results: Mapping[str, Result]) -> float | None:
    """bench-ingest's share of the floor; for runs before it reported one, from both results."""
    ingest, dedup = results.get("ingest", {}), results.get("ingest-dedup", {})
    share = ingest.get("share_of_floor")
    if isinstance(share, int | float):
        return float(share)
    rate, floor = ingest.get("readings_per_s"), dedup.get("no_dedup")
    if isinstance(rate, int | float) and isinstance(floor, int | float) and floor > 0:
        return round(rate / floor, 3)
    return None


def _cost_rows(outcomes: list[Outcome], previous: Previous | None) -> list[str]:
    now = {o.bench.name: o.result for o in outcomes if o.result is not None}
    if "ingest" not in now:
        return []
    before = previous.results if previous is not None else {}
    rows = []
    for f in COST_FIGURES:
        if f is SHARE_OF_FLOOR:
            this, last = share_of_floor_in(now), share_of_floor_in(before)
        else:
            this, last = f.value(now["ingest"]), f.value(before.get("ingest", {}))
        change = "–"
        if isinstance(this, int | float) and isinstance(last, int | float) and last:
            change = f"{this / last:.2f}"
        rows.append(f"| {f.label} | {_number(this)} | {_number(last)} | {change} |")
    return rows


def write_section(doc: Path, section: str) -> None:
    """Replace the generated section of `doc`, or put it after the title if it has none."""
    text = doc.read_text() if doc.exists() else "# Performance\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        new = head + section + "\n" + tail
    else:
        title, _, body = text.partition("\n")
        new = f"{title}\n\n{section}\n{body.lstrip(chr(10))}"
    doc.write_text(new)


def select(names: list[str]) -> list[Bench]:
    """The benchmarks by name, in the project's order; every one when `names` is empty."""
    known = {b.name: b for b in BENCHES}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [b for b in BENCHES if not names or b.name in names]
