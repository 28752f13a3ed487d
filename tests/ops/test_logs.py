"""Structured logs: every line a JSON object with the agreed fields."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from vigil.observability import configure_logging


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Route the root logger to a buffer, and put pytest's handlers back afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    buffer = io.StringIO()
    configure_logging("ingest", "debug", stream=buffer)
    yield buffer
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def _lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_each_record_is_one_json_line_with_the_agreed_fields(stream: io.StringIO) -> None:
    log = logging.getLogger("ingest.store")
    log.info("batch committed in %.1f ms", 12.34, extra={"rows": 812, "gateway": "gw-0001"})
    log.debug("second line")
    first, second = _lines(stream)
    assert first["level"] == "info"
    assert first["service"] == "ingest"
    assert first["logger"] == "ingest.store"
    assert first["msg"] == "batch committed in 12.3 ms"
    assert first["rows"] == 812
    assert first["gateway"] == "gw-0001"
    ts = datetime.fromisoformat(str(first["ts"]))
    assert ts.utcoffset() is not None
    assert ts.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert second["msg"] == "second line"
    assert "rows" not in second


def test_the_level_filters(stream: io.StringIO) -> None:
    configure_logging("ingest", "warning", stream=stream)
    logging.getLogger("x").info("hidden")
    logging.getLogger("x").warning("shown")
    assert [line["msg"] for line in _lines(stream)] == ["shown"]


def test_an_exception_keeps_its_traceback_on_one_line(stream: io.StringIO) -> None:
    try:
        raise ValueError("bad gseq")
    except ValueError:
        logging.getLogger("gateway").exception("dropped a message")
    text = stream.getvalue()
    assert text.count("\n") == 1
    (line,) = _lines(stream)
    assert line["level"] == "error"
    assert "ValueError: bad gseq" in str(line["exc"])


def test_values_json_cannot_hold_are_written_as_text(stream: io.StringIO) -> None:
    logging.getLogger("x").info("path", extra={"where": Path("/var/lib/vigil"), "火": "警"})
    (line,) = _lines(stream)
    assert line["where"] == "/var/lib/vigil"
    assert line["火"] == "警"


def test_configuring_twice_does_not_duplicate_lines(stream: io.StringIO) -> None:
    configure_logging("ingest", "info", stream=stream)
    logging.getLogger("x").info("once")
    assert len(_lines(stream)) == 1
