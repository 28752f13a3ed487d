"""Which incident an alert belongs to, and what it does to that incident's severity and signal.

One open incident per household and cause: smoke, heat, CO and a pre-alarm are evidence of the
same fire; a panic press and its cancel belong to the same call. Trouble and supervisory kinds
keep their own causes, so a low battery never joins a fire, and signal classes stay apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SIGNALS = ("trouble", "supervisory", "alarm")  # least to most urgent

_CAUSE_OF_KIND = {
    "fire": "fire",
    "smoke": "fire",
    "heat": "fire",
    "co": "fire",
    "pre_alarm": "fire",
    "cooking": "fire",
    "hush": "fire",
    "panic": "panic",
    "false_press": "panic",
}

# Kinds that only comment on an incident (the resident cancelled the press): they join an open
# incident of their cause but never open one nor raise its severity.
COMMENT_KINDS = frozenset({"false_press", "hush"})
# Kinds shown on the board but told to nobody: a kitchen's cooking smoke opens (or joins) a fire
# incident without notifications or timers, until an alarm of its cause joins it.
BOARD_ONLY_KINDS = frozenset({"cooking"})


def board_only(sources: Iterable[str]) -> bool:
    """True while an incident's sources ("device:kind") are board-only kinds (and comments)."""
    kinds = {s.rsplit(":", 1)[-1] for s in sources}
    return bool(kinds & BOARD_ONLY_KINDS) and kinds <= BOARD_ONLY_KINDS | COMMENT_KINDS


def cause_of(kind: str) -> str:
    return _CAUSE_OF_KIND.get(kind, kind)


def stronger_signal(a: str, b: str) -> str:
    return a if SIGNALS.index(a) >= SIGNALS.index(b) else b


@dataclass(frozen=True)
class Joined:
    severity: int
    signal: str
    corroborated: bool


def join(
    *,
    severity: int,
    signal: str,
    sources: frozenset[str],
    alert_kind: str,
    alert_severity: int,
    alert_signal: str,
    alert_source: str,
) -> Joined:
    """The incident's severity and signal after one more alert.

    Severity takes the higher of the two. The first corroboration — an alarm from a second
    source ("device:kind": another detector, or heat on top of smoke) — raises it one step
    more, up to 5, once; a third or fourth source adds no more.
    """
    if alert_kind in COMMENT_KINDS:
        return Joined(severity, signal, corroborated=False)
    corroborated = len(sources) == 1 and alert_source not in sources
    new_severity = max(severity, alert_severity)
    if corroborated and alert_signal == "alarm" and signal == "alarm":
        new_severity = min(5, new_severity + 1)
    return Joined(new_severity, stronger_signal(signal, alert_signal), corroborated)
