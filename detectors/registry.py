"""Which devices the engine watches: ids mapped to dense slots, households and buildings to indices.

Slots are assigned in registration order and never reused, so state rows stay put while devices
are added; the arrays the kernels need (type code, household index, policy row) are rebuilt here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from detectors.codes import DEVICE_TYPES, DOOR_TYPE, PIR_TYPE, TYPE_CODE
from detectors.errors import RegistryError
from detectors.rooms import room_class
from vigil.device_types import device_type

if TYPE_CHECKING:  # annotations only: numpy.typing is slow to import at start-up
    import numpy.typing as npt

# Readings that are not periodic: events, and motion / door reported as they change.
_NOT_PERIODIC = frozenset({"button", "tamper", "self_test", "motion", "door"})


def report_period(type_name: str) -> float:
    """Seconds between a device's periodic reports: its report interval, or its heartbeat when
    its periodic reports carry only the battery (panic, PIR, door)."""
    dtype = device_type(type_name)
    periodic = [m for m in dtype.metrics if m not in _NOT_PERIODIC]
    if periodic == ["battery"]:
        return min(dtype.report_interval_s, dtype.heartbeat_interval_s)
    return dtype.report_interval_s


@dataclass(frozen=True)
class Device:
    """One registry row: devices.csv's device_id,type,household_id,room (+ building, gateway)."""

    device_id: str
    type: str
    household_id: str
    room: str = ""
    building_id: str | None = None
    gateway_id: str | None = None
    supervision_s: float | None = None  # this device's heartbeat, overriding its type's

    @property
    def period(self) -> float:
        """Seconds between its periodic reports (see report_period), at least its supervision."""
        period = report_period(self.type)
        return period if self.supervision_s is None else max(period, self.supervision_s)

    @property
    def gateway(self) -> str:
        """Its gateway; without one registered, the household's hub stands in for it."""
        return self.gateway_id or f"{self.household_id}/hub"

    def __post_init__(self) -> None:
        if not self.device_id:
            raise RegistryError("device_id must not be empty")
        if self.type not in TYPE_CODE:
            raise RegistryError(
                f"device {self.device_id!r}: unknown type {self.type!r} "
                f"(known: {', '.join(DEVICE_TYPES)})"
            )
        if not self.household_id:
            raise RegistryError(f"device {self.device_id!r}: household_id must not be empty")
        if self.supervision_s is not None and not self.supervision_s > 0.0:
            raise RegistryError(f"device {self.device_id!r}: supervision_s must be positive")


class Registry:
    """Devices by slot, with the index arrays the kernels read."""

    def __init__(self, devices: Iterable[Device] = ()) -> None:
        self.devices: list[Device] = []
        self.slot_of: dict[str, int] = {}
        self.households: list[str] = []
        self.household_index: dict[str, int] = {}
        self.buildings: list[str] = []
        self.building_index: dict[str, int] = {}
        self.household_members: dict[str, list[int]] = {}
        self.building_members: dict[str, list[int]] = {}
        self.gateways: list[str] = []
        self.gateway_index: dict[str, int] = {}
        self.gateway_members: dict[str, list[int]] = {}
        # Rooms of households: (household, room class) -> index; devices that share one share
        # its hush (detectors.state RM_*).
        self.room_groups: dict[tuple[str, str], int] = {}
        self.add(devices)

    def add(self, devices: Iterable[Device]) -> list[int]:
        """Register new devices; a known id with identical details is accepted as a no-op."""
        added = []
        for device in devices:
            known = self.slot_of.get(device.device_id)
            if known is not None:
                if self.devices[known] != device:
                    raise RegistryError(
                        f"device {device.device_id!r} is already registered differently"
                    )
                continue
            slot = len(self.devices)
            self.slot_of[device.device_id] = slot
            self.devices.append(device)
            added.append(slot)
            self.household_members.setdefault(device.household_id, []).append(slot)
            if device.building_id is not None:
                self.building_members.setdefault(device.building_id, []).append(slot)
            if device.household_id not in self.household_index:
                self.household_index[device.household_id] = len(self.households)
                self.households.append(device.household_id)
            if device.gateway not in self.gateway_index:
                self.gateway_index[device.gateway] = len(self.gateways)
                self.gateways.append(device.gateway)
            self.gateway_members.setdefault(device.gateway, []).append(slot)
            self.room_groups.setdefault(
                (device.household_id, room_class(device.room)), len(self.room_groups)
            )
            if device.building_id is not None and device.building_id not in self.building_index:
                self.building_index[device.building_id] = len(self.buildings)
                self.buildings.append(device.building_id)
        return added

    def __len__(self) -> int:
        return len(self.devices)

    def type_codes(self) -> npt.NDArray[np.int8]:
        return np.array([TYPE_CODE[d.type] for d in self.devices], dtype=np.int8)

    def household_of(self) -> npt.NDArray[np.int32]:
        return np.array(
            [self.household_index[d.household_id] for d in self.devices], dtype=np.int32
        )

    def room_of(self) -> npt.NDArray[np.int32]:
        """Per device, the index of its household's room (its class) in `room_groups`."""
        return np.array(
            [self.room_groups[(d.household_id, room_class(d.room))] for d in self.devices],
            dtype=np.int32,
        )

    def rooms(self) -> Sequence[str]:
        return [d.room for d in self.devices]

    def gateway_of(self) -> npt.NDArray[np.int32]:
        return np.array([self.gateway_index[d.gateway] for d in self.devices], dtype=np.int32)

    def clusters(self) -> npt.NDArray[np.int32]:
        """Per device, a group that shares no household and no gateway with another group.

        Threads split the work by these groups, so no two threads touch one household's or one
        gateway's state.
        """
        parent = list(range(len(self.households) + len(self.gateways)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        offset = len(self.households)
        for d in self.devices:
            a = root(self.household_index[d.household_id])
            b = root(offset + self.gateway_index[d.gateway])
            parent[max(a, b)] = min(a, b)
        return np.array(
            [root(self.household_index[d.household_id]) for d in self.devices], dtype=np.int32
        )

    def types(self) -> Sequence[str]:
        return [d.type for d in self.devices]

    def household_ids(self) -> Sequence[str]:
        return [d.household_id for d in self.devices]

    def supervision(self) -> Sequence[float | None]:
        return [d.supervision_s for d in self.devices]

    def activity_devices(self) -> dict[int, list[int]]:
        """Household index -> slots of its PIR and door sensors, in slot order."""
        out: dict[int, list[int]] = {}
        for slot, d in enumerate(self.devices):
            if TYPE_CODE[d.type] in (PIR_TYPE, DOOR_TYPE):
                out.setdefault(self.household_index[d.household_id], []).append(slot)
        return out

    def slots(self, device_ids: Sequence[str]) -> npt.NDArray[np.int32]:
        """Slots of the given ids; -1 where an id is unknown."""
        get = self.slot_of.get
        return np.array([get(d, -1) for d in device_ids], dtype=np.int32)
