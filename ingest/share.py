"""Which partitions a claiming worker should take or let go (docs/ingest.md, "Scale-out").

Pure: from one view of what every live worker holds, each worker computes the same targets, so
they converge on an even split without talking to each other. A worker only ever claims free
partitions; one holding more than its target lets the surplus go, and the worker below its
target picks them up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class View:
    """Every live worker (by id) and the partitions it holds, at one moment."""

    partitions: int
    holdings: Mapping[int, frozenset[int]]

    @property
    def free(self) -> list[int]:
        taken: set[int] = set().union(*self.holdings.values())
        return [p for p in range(self.partitions) if p not in taken]

    def holder(self, partition: int) -> int | None:
        return next((w for w, held in self.holdings.items() if partition in held), None)


@dataclass(frozen=True)
class Plan:
    """Try `claim` in order until `wanted` are won; release `release` (after stopping them)."""

    claim: tuple[int, ...] = ()
    wanted: int = 0
    release: tuple[int, ...] = ()


def targets(view: View) -> dict[int, int]:
    """How many partitions each worker should hold: P // W each, one more for the first P % W
    workers, those holding most first (fewest moves), ties by id (all workers agree)."""
    workers = sorted(view.holdings, key=lambda w: (-len(view.holdings[w]), w))
    base, extra = divmod(view.partitions, len(workers)) if workers else (0, 0)
    return {w: base + (1 if i < extra else 0) for i, w in enumerate(workers)}


def plan(view: View, me: int) -> Plan:
    """What worker `me` should do now; it counts as live even if the view missed it."""
    if me not in view.holdings:
        view = View(view.partitions, {**view.holdings, me: frozenset()})
    held = sorted(view.holdings[me])
    target = targets(view)[me]
    if len(held) > target:
        return Plan(release=tuple(held[target:]))
    free = view.free
    if len(held) == target or not free:
        return Plan()
    # Workers racing for the same free partitions start at different places.
    start = me % len(free)
    return Plan(claim=tuple(free[start:] + free[:start]), wanted=target - len(held))


def orphaned(before: View | None, now: View) -> set[int]:
    """Partitions free now whose holder in `before` is no longer live: its database session
    ended without releasing them (a crash, or a lost connection it may not have noticed yet)."""
    if before is None:
        return set()
    gone = set(before.holdings) - set(now.holdings)
    return {p for w in gone for p in before.holdings[w]} & set(now.free)
