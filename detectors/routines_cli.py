"""The table `vigil detect eval --routines` prints (kept apart from cli.py, which is moving)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from detectors.evaluate_routines import evaluate
from detectors.policy import Policy


def run_routines(out: Console, policy: Policy, seeds: tuple[int, ...], details: bool) -> int:
    """Evaluate, print the figures against their targets; 0 if every target is met.

    Other seeds than the usual 1-3 (`--first-seed`) are other households of the same kinds:
    what a change gains should hold on them too.
    """
    report = evaluate(policy, seeds=seeds)
    kinds = Table("household kind", "false checks", title="false wellness checks (60 days each)")
    for kind, n in report.false_checks.items():
        kinds.add_row(kind, str(n))
    out.print(kinds)
    if details:
        cases = Table("kind", "seed", "case", "delay h", "after reference h")
        for c in report.cases:
            cases.add_row(
                c.kind,
                str(c.seed),
                c.case,
                "missed" if c.delay is None else f"{c.delay / 3600:.2f}",
                "-" if c.after_reference is None else f"{c.after_reference / 3600:.2f}",
            )
        out.print(cases)
    failed = False
    for name, (value, target, met) in report.targets().items():
        mark = "[green]PASS[/]" if met else "[red]FAIL[/]"
        out.print(f"{mark} {name}: {value:.2f} (target <= {target:g})")
        failed = failed or not met
    out.print(
        f"     not up: max h after the latest usual wake (unseen by sensors; the target counts "
        f"from the first activity seen): {report.not_up_after_wake() / 3600:.2f}"
    )
    return 1 if failed else 0
