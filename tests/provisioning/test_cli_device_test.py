"""`vigil device test SERIAL`: each place a test signal can stop, and the green path through a
real gateway process, the broker and ingest into the database."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.gateway.conftest import Account, GatewayProcess
from tests.ingest.conftest import running_ingest
from tests.provisioning.conftest import Console, Vigil
from vigil.frames import Frame
from vigil.harness import wait_for
from vigil.settings import Settings

pytestmark = pytest.mark.stack


@pytest.fixture
def provision(vigil: Vigil, signed_in_as: Callable[[str], None]) -> Callable[..., Account]:
    """A gateway in site s1 through the CLI, with one device of `device_type` behind it."""
    signed_in_as("inst")

    def make(device: str, device_type: str = "smoke") -> Account:
        gw = f"gw-{uuid.uuid4().hex[:8]}"
        result = vigil("gateway", "add", gw, "--site", "s1", "--json")
        assert result.code == 0, result.err
        added = vigil("device", "add", device, "--type", device_type, "--gateway", gw)
        assert added.code == 0, added.err
        return Account(gw, json.loads(result.out)["credentials"]["password"])

    return make


@pytest.fixture
def gateways(settings: Settings) -> Iterator[Callable[[Account], GatewayProcess]]:
    made: list[tuple[GatewayProcess, Path]] = []

    def start(acc: Account) -> GatewayProcess:
        workdir = Path(tempfile.mkdtemp(prefix="vdt-", dir="/tmp"))
        gw = GatewayProcess(workdir, acc, settings.stack_mqtt_port, "--site", "s1")
        made.append((gw, workdir))
        gw.start()
        wait_for(lambda: "connected to" in gw.log(), 10, "the gateway to connect")
        return gw

    yield start
    for gw, workdir in made:
        gw.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def dev_id(prefix: str = "sd") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def commission(vigil: Vigil, serial: str, *extra: str) -> tuple[int, dict[str, Any]]:
    result = vigil("device", "test", serial, "--json", *extra)
    return result.code, json.loads(result.out)


def press_when_asked(
    dsn: str, gw: GatewayProcess, frame: Callable[[], Frame], device: str
) -> threading.Thread:
    """The installer: waits until the console has started the test, then presses."""

    def run() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            wait_for(
                lambda: (
                    conn.execute(
                        "select 1 from commissioning_tests where device_id = %s", (device,)
                    ).fetchone()
                    is not None
                ),
                15,
                "the test to start",
            )
        time.sleep(0.5)  # the prompt reaches the installer, who presses
        gw.device().send(frame())

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_an_unknown_device_is_red(vigil: Vigil, signed_in_as: Callable[[str], None]) -> None:
    signed_in_as("inst")
    result = vigil("device", "test", "sd-nowhere")
    assert result.code == 1
    assert "stopped at unknown_device: device sd-nowhere is not registered" in result.out


def test_a_device_whose_gateway_was_revoked_is_red(
    vigil: Vigil, provision: Callable[..., Account]
) -> None:
    device = dev_id()
    acc = provision(device)
    assert vigil("gateway", "revoke", acc.gateway_id).code == 0
    code, answer = commission(vigil, device)
    assert code == 1
    assert answer["stopped_at"] == "no_gateway"
    assert f"gateway {acc.gateway_id} is revoked" in answer["message"]


def test_a_gateway_that_never_connected_is_red(
    vigil: Vigil, provision: Callable[..., Account]
) -> None:
    device = dev_id()
    acc = provision(device)
    code, answer = commission(vigil, device)
    assert code == 1
    assert answer["stopped_at"] == "gateway_offline"
    assert f"gateway {acc.gateway_id} has never connected" in answer["message"]


def test_a_gateway_gone_offline_is_red(
    vigil: Vigil,
    provision: Callable[..., Account],
    gateways: Callable[[Account], GatewayProcess],
) -> None:
    device = dev_id()
    gw = gateways(provision(device))
    assert gw.stop() == 0
    code, answer = commission(vigil, device)
    assert code == 1
    assert answer["stopped_at"] == "gateway_offline"
    assert "is offline" in answer["message"]


def test_silence_from_the_device_is_red(
    vigil: Vigil,
    provision: Callable[..., Account],
    gateways: Callable[[Account], GatewayProcess],
    console: Console,
) -> None:
    device = dev_id()
    gateways(provision(device))
    result = vigil("device", "test", device, "--timeout", "2")
    assert result.code == 1
    assert f"press the test button of {device} now" in result.out
    assert "stopped at nothing_received: no signal from the device" in result.out
    with psycopg.connect(console.dsn) as conn:
        row = conn.execute(
            "select outcome, stopped_at, started_by from commissioning_tests where device_id = %s",
            (device,),
        ).fetchone()
    assert row == ("fail", "nothing_received", "inst")


def test_a_signal_the_broker_had_but_ingest_never_stored_is_red(
    vigil: Vigil,
    provision: Callable[..., Account],
    gateways: Callable[[Account], GatewayProcess],
    console: Console,
) -> None:
    device = dev_id()
    gw = gateways(provision(device))  # and no ingest running
    presser = press_when_asked(console.dsn, gw, lambda: self_test(device), device)
    code, answer = commission(vigil, device, "--timeout", "3")
    presser.join()
    assert code == 1
    assert answer["stopped_at"] == "not_stored"
    assert "is ingest running?" in answer["message"]
    assert [s["message"] for s in answer["steps"] if s["step"] == "seen"] == [
        "self_test from the device reached the broker via its gateway"
    ]


def test_the_self_test_command_reaches_the_gateway(
    vigil: Vigil,
    provision: Callable[..., Account],
    gateways: Callable[[Account], GatewayProcess],
) -> None:
    device = dev_id()
    gw = gateways(provision(device))
    code, answer = commission(vigil, device, "--send-command", "--timeout", "2")
    assert code == 1  # devices take no commands over the local transport yet
    assert answer["stopped_at"] == "nothing_received"
    waiting = next(s for s in answer["steps"] if s["step"] == "waiting")
    command_id = waiting["message"].split()[2]
    wait_for(lambda: f"command self_test for {device} (id {command_id})" in gw.log(), 5,
               "the command in the gateway's log")  # fmt: skip


def self_test(device: str) -> Frame:
    return Frame(dev=device, type="smoke", seq=1, ts=time.time(), e="self_test", x=1.0)


def test_a_press_through_gateway_broker_and_ingest_is_green_with_its_latency(
    vigil: Vigil,
    provision: Callable[..., Account],
    gateways: Callable[[Account], GatewayProcess],
    console: Console,
    settings: Settings,
) -> None:
    device = dev_id()
    gw = gateways(provision(device))
    with running_ingest(settings, console.dsn):
        presser = press_when_asked(console.dsn, gw, lambda: self_test(device), device)
        result = vigil("device", "test", device, "--timeout", "20")
        presser.join()
    assert result.code == 0, result.out
    assert f"✓ {device} commissioned in" in result.out
    assert "ms end to end" in result.out
    with psycopg.connect(console.dsn) as conn:
        row = conn.execute(
            "select outcome, latency_ms, detail from commissioning_tests where device_id = %s",
            (device,),
        ).fetchone()
    assert row is not None
    outcome, latency_ms, detail = row
    assert outcome == "pass"
    assert 0 < latency_ms < 20_000
    assert set(detail["hops_ms"]) == {"device→gateway", "gateway→broker", "broker→stored"}


def test_a_panic_press_stored_without_an_alert_is_red(
    vigil: Vigil,
    provision: Callable[..., Account],
    gateways: Callable[[Account], GatewayProcess],
    console: Console,
    settings: Settings,
) -> None:
    """A press must raise a panic alert; with no detectors running none comes."""
    device = dev_id("pb")
    gw = gateways(provision(device, "panic"))
    press = lambda: Frame(dev=device, type="panic", seq=1, ts=time.time(), e="button", x=1.0)  # noqa: E731
    with running_ingest(settings, console.dsn):
        presser = press_when_asked(console.dsn, gw, press, device)
        code, answer = commission(vigil, device, "--timeout", "4")
        presser.join()
    assert code == 1
    assert answer["stopped_at"] == "no_alert"
    assert [s["message"] for s in answer["steps"] if s["step"] == "seen"] == [
        "button from the device reached the broker via its gateway",
        "ingest stored it",
    ]
