"""MQTT topic names of the wire contract (docs/protocol.md), as a type that cannot be malformed.

Every topic lives under `vigil/v1/{site}/{gateway_id}/`; a `Topic` checks its parts when made,
so a topic string that reaches the broker or comes back from it has been validated exactly once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, get_args

from vigil.errors import VigilError

PREFIX = "vigil/v1"
SITE_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
GATEWAY_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
SHARE_GROUP_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

CommandName = Literal["self_test", "silence", "config"]
COMMANDS: tuple[str, ...] = get_args(CommandName)


class TopicError(VigilError, ValueError):
    """A topic string or one of its parts breaks the topic layout."""


class TopicKind(StrEnum):
    """What a topic carries; the value is the topic's tail after the gateway id."""

    TELEMETRY = "up/telemetry"
    EVENT = "up/event"
    STATUS = "status"
    DOWN = "down"


def check_site(site: str) -> str:
    if not SITE_PATTERN.fullmatch(site):
        raise TopicError(f"invalid site {site!r}: want {SITE_PATTERN.pattern}")
    return site


def check_gateway_id(gateway_id: str) -> str:
    if not GATEWAY_ID_PATTERN.fullmatch(gateway_id):
        raise TopicError(f"invalid gateway id {gateway_id!r}: want {GATEWAY_ID_PATTERN.pattern}")
    return gateway_id


@dataclass(frozen=True)
class Topic:
    """One concrete topic (no wildcards); `str(topic)` is what goes on the wire."""

    site: str
    gateway_id: str
    kind: TopicKind
    command: str | None = None

    def __post_init__(self) -> None:
        check_site(self.site)
        check_gateway_id(self.gateway_id)
        if not isinstance(self.kind, TopicKind):
            raise TopicError(f"invalid topic kind {self.kind!r}")
        if self.kind is TopicKind.DOWN:
            if self.command not in COMMANDS:
                raise TopicError(
                    f"invalid downlink command {self.command!r}: want one of {', '.join(COMMANDS)}"
                )
        elif self.command is not None:
            raise TopicError(f"only downlink topics name a command, not {self.kind.name}")

    def __str__(self) -> str:
        tail = f"{self.kind.value}/{self.command}" if self.command else self.kind.value
        return f"{PREFIX}/{self.site}/{self.gateway_id}/{tail}"

    @classmethod
    def parse(cls, topic: str) -> Topic:
        """The topic a received message names; TopicError says what does not fit."""
        if not topic.startswith(PREFIX + "/"):
            raise TopicError(f"topic {topic!r} is not under {PREFIX}/")
        parts = topic[len(PREFIX) + 1 :].split("/")
        if len(parts) < 3:
            raise TopicError(f"topic {topic!r} is too short: want {PREFIX}/site/gateway/...")
        site, gateway_id, *rest = parts
        tail = "/".join(rest)
        if rest[0] == TopicKind.DOWN.value and len(rest) == 2:
            return cls(site, gateway_id, TopicKind.DOWN, rest[1])
        try:
            kind = TopicKind(tail)
        except ValueError:
            raise TopicError(f"topic {topic!r} has an unknown tail {tail!r}") from None
        if kind is TopicKind.DOWN:
            raise TopicError(f"downlink topic {topic!r} names no command")
        return cls(site, gateway_id, kind)

    @classmethod
    def telemetry(cls, site: str, gateway_id: str) -> Topic:
        return cls(site, gateway_id, TopicKind.TELEMETRY)

    @classmethod
    def event(cls, site: str, gateway_id: str) -> Topic:
        return cls(site, gateway_id, TopicKind.EVENT)

    @classmethod
    def status(cls, site: str, gateway_id: str) -> Topic:
        return cls(site, gateway_id, TopicKind.STATUS)

    @classmethod
    def down(cls, site: str, gateway_id: str, command: str) -> Topic:
        return cls(site, gateway_id, TopicKind.DOWN, command)


def uplink_filter(
    site: str | None = None, gateway_id: str | None = None, kind: TopicKind | None = None
) -> str:
    """Telemetry and events (or, with `kind`, only one of them) of one gateway, one site, or
    (both None) every site."""
    s = "+" if site is None else check_site(site)
    g = "+" if gateway_id is None else check_gateway_id(gateway_id)
    if kind is None:
        return f"{PREFIX}/{s}/{g}/up/#"
    if kind not in (TopicKind.TELEMETRY, TopicKind.EVENT):
        raise TopicError(f"{kind.name} is not an uplink topic kind")
    return f"{PREFIX}/{s}/{g}/{kind.value}"


def status_filter(site: str | None = None) -> str:
    """Retained status of every gateway of one site, or of every site."""
    s = "+" if site is None else check_site(site)
    return f"{PREFIX}/{s}/+/status"


def downlink_filter(site: str, gateway_id: str) -> str:
    """Every command addressed to one gateway."""
    return f"{PREFIX}/{check_site(site)}/{check_gateway_id(gateway_id)}/{TopicKind.DOWN.value}/+"


def shared(group: str, topic_filter: str) -> str:
    """A shared subscription: the broker hands each message to one member of `group`."""
    if not SHARE_GROUP_PATTERN.fullmatch(group):
        raise TopicError(f"invalid share group {group!r}: want {SHARE_GROUP_PATTERN.pattern}")
    if topic_filter.startswith("$share/"):
        raise TopicError(f"filter {topic_filter!r} is already shared")
    return f"$share/{group}/{topic_filter}"
