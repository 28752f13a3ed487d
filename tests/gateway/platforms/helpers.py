"""A sink that acknowledges at once (or on demand), and a receiver around it."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

from gateway.platforms.profiles import Profiles, parse_profile
from gateway.platforms.receiver import DeviceEntry, MemoryRegistry, Receiver, SupervisionConfig
from gateway.platforms.state import ReadingRow, State
from vigil.codec import Event

# A vendor whose smoke_state 0 is the alarm (the opposite of the shipped OneNET template).
INVERTED = """
id = "test-inverted-smoke"
device_type = "smoke_alarm"
platforms = ["ctwing", "onenet"]
products = ["inv-1"]
heartbeat_s = 2
[states.smoke_state]
event = "smoke_alarm"
raised = [0]
normal = [1]
[readings.rsrp]
metric = "rsrp"
"""


class FakeSink:
    def __init__(self, *, auto_ack: bool = True) -> None:
        self.auto_ack = auto_ack
        self.events: list[Event] = []
        self.readings: list[ReadingRow] = []
        self.waiting: list[Future[None]] = []

    def emit(self, events: list[Event]) -> Future[None]:
        self.events.extend(events)
        future: Future[None] = Future()
        if self.auto_ack:
            future.set_result(None)
        else:
            self.waiting.append(future)
        return future

    def read(self, readings: list[ReadingRow]) -> None:
        self.readings.extend(readings)

    def ack_all(self) -> None:
        for f in self.waiting:
            f.set_result(None)
        self.waiting.clear()


def profiles() -> Profiles:
    shipped = Profiles.load()
    return Profiles([*shipped.by_id.values(), parse_profile(INVERTED, "inverted")])


LIAN_IMEI = "860374051096202"
LIAN_ID = "acf7baaee65e431eadfb8f5fe50e8b81"


def registry() -> MemoryRegistry:
    reg = MemoryRegistry()
    reg.add(DeviceEntry("nb-smoke-1", "ctwing", "15014772", None, LIAN_IMEI, LIAN_ID))
    reg.add(DeviceEntry("nb-inv-1", "ctwing", "inv-1", None, "861111111111111", "inv-dev"))
    reg.add(DeviceEntry("nb-onenet-1", "onenet", "op1", "onenet-smoke", None, "dev-1"))
    return reg


def receiver(tmp: Path) -> Receiver:
    return Receiver(State(tmp / "state.sqlite"), profiles(), registry(),
                    SupervisionConfig(grace=0.0, slack_s=0.5))  # fmt: skip
