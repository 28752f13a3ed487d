"""Each account's polling supervision: pure, handed `now`; the receiver drives it.

An account with a polling interval must be heard from (a NULL poll, a test or any event) within
the interval plus a grace; at that deadline its link is down (one transition, reported once),
and the next message from it brings it back up.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_GRACE_S = 2.0
GRACE_SHARE = 0.1  # of the interval: a panel's timer and the network jitter a little


def grace_for(poll_s: float) -> float:
    return max(MIN_GRACE_S, poll_s * GRACE_SHARE)


@dataclass
class _Link:
    poll_s: float
    last: float
    down: bool = False

    @property
    def deadline(self) -> float:
        return self.last + self.poll_s + grace_for(self.poll_s)


@dataclass(frozen=True)
class Change:
    account: str
    up: bool
    last: float  # when the account was last heard from
    poll_s: float


class Supervision:
    def __init__(self) -> None:
        self._links: dict[str, _Link] = {}

    def configure(self, intervals: dict[str, float | None], now: float) -> None:
        """Accounts and their polling intervals (None: not supervised), e.g. after a registry
        reload; an account newly supervised gets a full interval from `now`."""
        for account in list(self._links):
            if intervals.get(account) is None:
                del self._links[account]
        for account, poll_s in intervals.items():
            if poll_s is None:
                continue
            link = self._links.get(account)
            if link is None:
                self._links[account] = _Link(poll_s, now)
            else:
                link.poll_s = poll_s

    def mark_down(self, accounts: set[str]) -> None:
        """Links known to be down (from before a restart): their next message reports them up."""
        for account in accounts:
            link = self._links.get(account)
            if link is not None:
                link.down = True

    def heard(self, account: str, now: float) -> Change | None:
        """The account sent a valid message; a Change when this brings its link back up."""
        link = self._links.get(account)
        if link is None:
            return None
        link.last = max(link.last, now)
        if link.down:
            link.down = False
            return Change(account, True, now, link.poll_s)
        return None

    def due(self, now: float) -> list[Change]:
        """Links whose deadline has passed since the last call (each reported once)."""
        changes = []
        for account, link in self._links.items():
            if not link.down and now >= link.deadline:
                link.down = True
                changes.append(Change(account, False, link.last, link.poll_s))
        return changes

    def next_deadline(self) -> float | None:
        pending = [link.deadline for link in self._links.values() if not link.down]
        return min(pending) if pending else None

    def is_down(self, account: str) -> bool:
        link = self._links.get(account)
        return link is not None and link.down
