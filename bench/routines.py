"""`make bench-routines` (and `make bench`): the full routine evaluation, with a baseline.

Six household kinds x 3 seeds, 60 days each, with collapses (detectors.evaluate_routines). The
baseline measured in the same run is a plain fixed rule on the same households: a check after
4 h without activity at any hour (the longest a daytime collapse may wait), so the ratio says
how many false checks the learned routine saves. The last line printed is one JSON object.
"""

from __future__ import annotations

import json
import statistics
import time

import numpy as np

from detectors.evaluate_routines import evaluate
from detectors.households import KINDS, generate

SEEDS = (1, 2, 3)
DAYS = 60
FIXED_SILENCE_S = 4 * 3600.0


def fixed_rule_false_per_30d() -> float:
    """False checks of 'no activity for 4 h' on the same untouched households."""
    checks = 0
    for kind in KINDS:
        for seed in SEEDS:
            gaps = np.diff(generate(kind, seed, DAYS).ts)
            checks += int(np.count_nonzero(gaps >= FIXED_SILENCE_S))
    return checks / (len(KINDS) * len(SEEDS) * DAYS / 30.0)


def main() -> None:
    started = time.perf_counter()
    report = evaluate(seeds=SEEDS, days=DAYS)
    elapsed = time.perf_counter() - started
    baseline = fixed_rule_false_per_30d()
    targets = report.targets()
    day = report.delays("day")
    result = {
        "households": report.households,
        "days": DAYS,
        "false_per_30d": round(report.false_per_30d, 3),
        "false_checks": report.false_checks,
        "baseline_false_per_30d": round(baseline, 3),
        "ratio": round(baseline / report.false_per_30d, 2) if report.false_per_30d else None,
        "day_median_h": round(statistics.median(day) / 3600, 2) if day else None,
        "targets": {
            name: {"value": round(v, 2), "target": t, "met": met}
            for name, (v, t, met) in targets.items()
        },
        "all_met": all(met for _, _, met in targets.values()),
        "elapsed_s": round(elapsed, 1),
    }
    for name, (value, target, met) in targets.items():
        print(f"{'PASS' if met else 'FAIL'} {name}: {value:.2f} (target <= {target:g})")
    print(f"baseline (check after 4 h of silence): {baseline:.2f} false checks / household / 30 d")
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
