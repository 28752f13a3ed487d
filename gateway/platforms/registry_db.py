"""The registry's platform devices (table `platform_devices`, migration 0017), cached in memory
and reloaded when the registry changes; and the receiver's dead letters copied into
`dead_letters`, where the console and `vigil ops` show every other dead letter."""

from __future__ import annotations

import logging
import threading

import psycopg

from gateway.platforms.receiver import DeviceEntry, MemoryRegistry

log = logging.getLogger(__name__)

# Devices registered here (platform_devices: IMEI, the platform's id, product, profile), and
# devices registered elsewhere (the console, `vigil device add`, the CSV import) with only the
# shared columns: source ctwing/onenet, external_id (an IMEI, or the platform's device id) and
# model (a profile id, when it names one; otherwise the product's profile is used).
_LOAD = """
select p.device_id, p.source, p.product, p.profile, p.imei, p.platform_id, false
from platform_devices p join devices d on d.id = p.device_id
where d.retired_at is null
union all
select d.id, d.source, '', d.model,
       case when d.external_id ~ '^[0-9]{14,17}$' then d.external_id end, d.external_id, true
from devices d
where d.retired_at is null and d.source in ('ctwing', 'onenet') and d.external_id is not null
  and not exists (select 1 from platform_devices p where p.device_id = d.id)
"""


class DbRegistry:
    """`find` answers from memory; `refresh` reloads when `registry_version` moved."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._cache = MemoryRegistry()
        self._version: int | None = None
        self._lock = threading.Lock()
        self.loaded = False  # until the first load, a push cannot be told from an unknown one

    def find(self, source: str, platform_id: str, imei: str | None) -> DeviceEntry | None:
        return self._cache.find(source, platform_id, imei)

    def refresh(self) -> bool:
        """Reload if the registry changed; True if it did. Blocking: run it off the loop."""
        with self._lock, psycopg.connect(self.dsn, autocommit=True) as conn:
            row = conn.execute("select version from registry_version").fetchone()
            version = int(row[0]) if row else 0
            if version == self._version:
                return False
            fresh = MemoryRegistry()
            for device_id, source, product, profile, imei, platform_id, hint in conn.execute(_LOAD):
                fresh.add(DeviceEntry(device_id, source, product or "", profile, imei,
                                      platform_id, profile_hint=hint))  # fmt: skip
            self._cache, self._version = fresh, version
            self.loaded = True
            log.info("registry: %d platform devices", len(fresh.by_platform_id) +
                     len({e.device_id for e in fresh.by_imei.values()} -
                         {e.device_id for e in fresh.by_platform_id.values()}))  # fmt: skip
            return True


def copy_dead_letters(dsn: str, rows: list[tuple]) -> None:  # type: ignore[type-arg]
    """Insert the receiver's dead letters (rows of `State.dead_letters`) into `dead_letters`.
    Blocking: run it off the loop, then mark them copied on the loop."""
    with psycopg.connect(dsn, autocommit=False) as conn:
        conn.cursor().executemany(
            "insert into dead_letters (received_at, topic, reason, detail, payload) "
            "values (to_timestamp(%s), %s, %s, %s, %s)",
            [
                (at, topic, reason, detail, payload)
                for _i, at, topic, reason, detail, payload in rows
            ],
        )
        conn.commit()
