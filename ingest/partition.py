"""Which sites one ingest worker owns when several share a district (docs/ingest.md).

Workers split the stream by site, not by MQTT shared subscription: every message of a site, hence
every reading of each of its devices, reaches the same worker in the order the broker got it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from ingest.errors import ConfigError
from vigil.topics import TopicKind, uplink_filter


@dataclass(frozen=True)
class Partition:
    """Worker `index` of `count`; a site belongs to the worker its CRC-32 names."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ConfigError(f"partition {self.index}/{self.count}: want 0 <= index < count")

    @classmethod
    def parse(cls, text: str) -> Partition:
        """`"i/n"`: worker i (from 0) of n."""
        index, sep, count = text.partition("/")
        try:
            if not sep:
                raise ValueError(text)
            return cls(int(index), int(count))
        except ValueError:
            raise ConfigError(f"partition {text!r}: want INDEX/COUNT, e.g. 0/2") from None

    def owns(self, site: str) -> bool:
        return zlib.crc32(site.encode()) % self.count == self.index

    def filters(self, sites: Iterable[str], kind: TopicKind | None = None) -> list[str]:
        """Topic filters for the sites this worker owns (all uplink topics, or those of `kind`);
        one wildcard when it owns them all."""
        if self.count == 1:
            return [uplink_filter(kind=kind)]
        return [uplink_filter(site, kind=kind) for site in sorted(set(sites)) if self.owns(site)]

    def client_id(self, prefix: str = "vigil-ingest") -> str:
        """Stable across restarts, so the broker keeps this worker's session and backlog."""
        return f"{prefix}-{self.index}of{self.count}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
