"""A pipeline test that fails shows the logs it needs: its own children's and every other log
under its var directory (the simulator's gateways', the pipeline's when the failure came from the
test body), and stops its children all the same."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fix_pipeline import Child, running


def test_a_failing_block_shows_its_childrens_logs_and_every_other_log_under_var(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own = tmp_path / "simulator.log"
    own.write_text("district: 1 gateways\n")
    gateway = tmp_path / "gateways" / "gw-0001.log"
    gateway.parent.mkdir()
    gateway.write_text("gateway: broker refused the login\n")
    (tmp_path / "ingest.log").write_text("ingest: registry loaded\n")
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    child = Child("simulator", process, own)

    with pytest.raises(RuntimeError), running([child], tmp_path):
        raise RuntimeError("ordinary reports never came")

    shown = capsys.readouterr().err
    assert shown.count("district: 1 gateways") == 1
    assert "gateway: broker refused the login" in shown
    assert "ingest: registry loaded" in shown
    assert process.poll() is not None, "the child is stopped after the failure"


def test_a_block_that_succeeds_shows_no_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ingest.log").write_text("ingest: registry loaded\n")
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with running([Child("simulator", process, tmp_path / "simulator.log")], tmp_path):
        pass
    assert capsys.readouterr().err == ""
    assert process.poll() is not None
