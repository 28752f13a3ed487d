"""`make bench`'s report: parsing each benchmark's last line, targets, and the document section."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bench.report import (
    BENCHES,
    END,
    START,
    Machine,
    Outcome,
    Previous,
    last_json,
    render,
    run_bench,
    select,
    share_of_floor_in,
    with_floor,
    write_section,
)

MACHINE = Machine("2026-12-02 10:00 UTC", "abc1234", 2, 0.5, 0.7)


def test_last_json_takes_the_final_object() -> None:
    lines = ["warming up", '{"early": 1}', "measuring", '{"readings_per_s": 5}', ""]
    assert last_json(lines) == {"readings_per_s": 5}


def test_last_json_without_an_object_is_an_error() -> None:
    with pytest.raises(ValueError, match="no JSON object"):
        last_json(["only", "text"])


def test_select_keeps_the_project_order_and_refuses_unknown_names() -> None:
    assert [b.name for b in select(["latency", "detect"])] == ["detect", "latency"]
    assert len(select([])) == len(BENCHES)
    with pytest.raises(ValueError, match=r"unknown benchmark.*nope"):
        select(["nope"])


def test_render_marks_targets_met_and_missed() -> None:
    ingest = next(b for b in BENCHES if b.name == "ingest")
    result = {
        "readings_per_s": 160_000,
        "baseline_readings_per_s": 10_000,
        "ratio": 16.0,
        "peak_rss_mb": 220.0,
        "rss_first_quarter_mb": 210.0,
        "rss_last_quarter_mb": 211.0,
        "published_readings": 9_000_000,
        "stored_readings": 9_000_000,
    }
    text = render([Outcome(ingest, result, 90.0)], MACHINE)
    assert text.startswith(START)
    assert text.rstrip().endswith(END)
    assert "| `bench-ingest` | readings/s sustained, committed ≥ 150,000 | yes |" in text
    assert "| `bench-ingest` | ratio ≥ 20× | **no** |" in text
    assert "stored = published (9,000,000 = 9,000,000) | yes" in text
    assert "memory flat (RSS 210.0 → 211.0 MB) | yes" in text
    assert "naive pipeline, readings/s 10,000 | 16×" in text
    assert "carries about 1,200,000 homes" in text


def test_render_names_a_failed_benchmark_and_its_unmet_targets() -> None:
    latency = next(b for b in BENCHES if b.name == "latency")
    text = render([Outcome(latency, None, 3.0, "exited with 1; output in var/bench")], MACHINE)
    assert "failed: exited with 1" in text
    assert "| `bench-latency` | p99 < 250 ms | not measured |" in text


def test_write_section_replaces_only_the_generated_part(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\nHand-written analysis.\n")
    write_section(doc, f"{START}\nfirst\n{END}\n")
    assert doc.read_text() == f"# Performance\n\n{START}\nfirst\n{END}\n\nHand-written analysis.\n"
    write_section(doc, f"{START}\nsecond\n{END}\n")
    text = doc.read_text()
    assert "first" not in text
    assert "second" in text
    assert text.endswith("Hand-written analysis.\n")
    assert text.count(START) == 1


def test_a_real_benchmark_run_yields_its_figures(tmp_path: Path) -> None:
    sim = next(b for b in BENCHES if b.name == "sim")
    small = dataclasses.replace(sim, args=("--gateways", "2", "--devices", "20", "--minutes", "2"))
    seen: list[str] = []
    outcome = run_bench(small, tmp_path, seen.append)
    assert outcome.error is None, outcome.error
    assert outcome.result is not None
    assert outcome.result["readings_per_s"] > 0
    assert outcome.result["ratio"] > 0
    assert (tmp_path / "sim.log").read_text().splitlines() == seen


def test_a_failing_benchmark_is_reported_not_raised(tmp_path: Path) -> None:
    sim = next(b for b in BENCHES if b.name == "sim")
    broken = dataclasses.replace(sim, args=("--no-such-flag",))
    outcome = run_bench(broken, tmp_path, lambda _line: None)
    assert outcome.result is None
    assert outcome.error is not None
    assert "exited with 2" in outcome.error


def _outcome(name: str, result: dict[str, object] | None) -> Outcome:
    return Outcome(next(b for b in BENCHES if b.name == name), result, 10.0)


def test_the_floor_runs_just_before_ingest_and_is_handed_to_it() -> None:
    names = [b.name for b in select([])]
    assert names.index("ingest-dedup") + 1 == names.index("ingest")
    ingest = next(b for b in BENCHES if b.name == "ingest")
    dedup = _outcome("ingest-dedup", {"no_dedup": 244_908, "message": 200_000})
    handed = with_floor(ingest, [_outcome("detect", {"ratio": 1}), dedup])
    assert handed.args == ("--full", "--floor-readings-per-s", "244908")
    assert with_floor(ingest, [_outcome("ingest-dedup", None)]) == ingest  # it failed: no floor
    assert with_floor(ingest, []) == ingest


def _cost_result(rate: int, share: float | None, cpu: float) -> dict[str, object]:
    result: dict[str, object] = {
        "readings_per_s": rate,
        "bytes_per_reading": 140.1,
        "cpu_s_per_million_readings": {
            "ingest": cpu,
            "postgres": 4.3,
            "publisher": 1.4,
            "broker": 0.2,
        },
    }
    if share is not None:
        result["share_of_floor"] = share
    return result


def test_the_cost_table_puts_this_run_beside_the_previous_one(tmp_path: Path) -> None:
    first = render(
        [
            _outcome("ingest-dedup", {"no_dedup": 250_000}),
            _outcome("ingest", _cost_result(200_000, None, 3.2)),  # from before share_of_floor
        ],
        MACHINE,
    )
    doc = tmp_path / "performance.md"
    write_section(doc, first)
    previous = Previous.of(doc.read_text())
    assert previous is not None
    assert previous.when == "2026-12-02 10:00 UTC, `abc1234`"
    assert share_of_floor_in(previous.results) == 0.8  # 200,000 / 250,000
    later = dataclasses.replace(MACHINE, date="2026-12-06 12:00 UTC", commit="def5678")
    text = render([_outcome("ingest", _cost_result(225_000, 0.9, 1.6))], later, previous)
    assert "Previous run: 2026-12-02 10:00 UTC, `abc1234`." in text
    assert "| CPU s / million: ingest process | 1.60 | 3.20 | 0.50 |" in text
    assert "| CPU s / million: PostgreSQL | 4.30 | 4.30 | 1.00 |" in text
    assert "| share of the database-side floor (no_dedup) | 0.90 | 0.80 | 1.12 |" in text
    assert "| bytes per stored reading | 140 | 140 | 1.00 |" in text
    assert "| `bench-ingest` | share of the database-side floor (no_dedup) ≥ 0.90 | yes |" in text


def test_no_previous_run_leaves_its_column_empty() -> None:
    assert Previous.of("# Performance\n\nNo generated section yet.\n") is None
    text = render([_outcome("ingest", _cost_result(200_000, 0.7, 3.2))], MACHINE, None)
    assert "Previous run: none in this document." in text
    assert "| CPU s / million: broker | 0.20 | – | – |" in text


def test_storage_is_judged_on_its_packed_closed_chunk_at_most_60_bytes() -> None:
    result: dict[str, object] = {
        "closed_bytes_per_reading": 60.0,
        "hot_bytes_per_reading": 60.6,
        "closed_index_bytes_per_reading": 6.9,
        "pack_s": 1.2,
        "closed_as_ingested_bytes_per_reading": 60.7,
        "ratio": 1.012,
    }
    text = render([_outcome("storage", result)], MACHINE)
    assert "| `bench-storage` | bytes per reading, closed chunk packed ≤ 60 | yes |" in text
    assert "the closed chunk before packing 60.70 | 1.01×" in text
    assert "60.0 bytes per raw reading in a closed chunk after packing" in text
    assert "60.6 in the current chunk as ingested" in text
    over = render([_outcome("storage", {**result, "closed_bytes_per_reading": 60.1})], MACHINE)
    assert "closed chunk packed ≤ 60 | **no** |" in over


def test_compression_is_judged_at_most_6_bytes_and_on_the_same_rows_after() -> None:
    result: dict[str, object] = {
        "compressed_bytes_per_reading": 5.96,
        "hypertable_bytes_per_reading_after": 6.02,
        "pglite_uncompressed_bytes_per_reading": 60.9,
        "ratio": 10.2,
        "queries_same": {"device_day": True, "ingest_stored_already": True},
        "dedup_found_exactly_the_stored": True,
    }
    text = render([_outcome("compression", result)], MACHINE)
    assert "| `bench-compression` | bytes per reading, compressed ≤ 6 | yes |" in text
    assert "| `bench-compression` | the same rows from compressed chunks | yes |" in text
    differs = {**result, "queries_same": {"device_day": True, "ingest_stored_already": False}}
    over = render(
        [_outcome("compression", {**differs, "compressed_bytes_per_reading": 6.04})], MACHINE
    )
    assert "bytes per reading, compressed ≤ 6 | **no** |" in over
    assert "the same rows from compressed chunks | **no** |" in over
