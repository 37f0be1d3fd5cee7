"""Calibration of every CI method: type-I error on null scenarios, power on alternatives.

(The default transport test and its verdicts at n = 2,000 are in `transport_calibration.py`.)

The long version of `tests/statistical`: each method runs `ci_test(y_b, s, y_m)` on fresh draws
of every scenario of `analysis.SCENARIOS` (fixed seeds, no retries) and we count rejections at
α = 0.05. The own methods get `--reps` datasets per null scenario at `--n` rows and `--power-reps`
per alternative at `--power-n` rows; DoWhy's methods, which take seconds per call, get
`--dowhy-reps` per scenario at `--n` rows on the scenarios in `--dowhy-scenarios`. Writes
`benchmarks/results/ci_calibration.json` and prints one table per method. Exits 1 when an own
method leaves the band [0.03, 0.07] on a null or falls below 0.9 power on `direct`/`interaction`.

    python benchmarks/ci_calibration.py [--reps 1000] [--n 1000] [--power-n 2000] [--dowhy-reps 30]
"""

from __future__ import annotations

import argparse
import sys

import dowhy.gcm.config
import torch
from _common import print_table, write_results
from rich.progress import Progress

from analysis import OWN_METHODS, SCENARIOS, rejection_rate

DOWHY = ["dowhy_kernel", "dowhy_approx_kernel", "dowhy_regression", "dowhy_gcm"]
BAND = (0.03, 0.07)
POWER_MIN = 0.9
ASSERTED_ALTERNATIVES = ("direct", "interaction", "clustered_direct")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=[*OWN_METHODS, *DOWHY])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--power-n", type=int, default=2000)
    parser.add_argument("--power-reps", type=int, default=200)
    parser.add_argument("--dowhy-reps", type=int, default=30)
    parser.add_argument(
        "--dowhy-scenarios",
        nargs="+",
        default=["nonlinear", "imbalanced", "binary_yb", "dim16", "clustered", "direct", "interaction"],
    )
    parser.add_argument("--out", default="ci_calibration")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dowhy.gcm.config.default_n_jobs = 1  # one core per method, like ours
    plan = []
    for method in args.methods:
        own = method in OWN_METHODS
        for name, sc in SCENARIOS.items():
            if own:
                plan.append((method, name, args.n, args.reps if sc.null else args.power_reps, True))
                if not sc.null:
                    plan.append((method, name, args.power_n, args.power_reps, True))
                if name == "clustered":
                    plan.append((method, name, args.n, args.power_reps, False))
            elif name in args.dowhy_scenarios:
                plan.append((method, name, args.n, args.dowhy_reps, False))
    rows, failures = [], []
    with Progress() as progress:
        task = progress.add_task("calibration", total=sum(p[3] for p in plan))
        for method, name, n, reps, groups in plan:
            progress.update(task, description=f"{method} · {name} · n={n}")
            r = rejection_rate(
                method, name, n=n, reps=reps, seed=1, use_groups=groups, progress=lambda k: progress.advance(task, k)
            )
            rows.append(r.to_dict())
            own_checked = method in OWN_METHODS and groups  # the run ignoring episode ids is a demonstration
            if own_checked and r.null and not BAND[0] <= r.rate <= BAND[1]:
                failures.append(f"{method} {name} n={n}: type-I {r.rate:.3f} outside {BAND}")
            if own_checked and name in ASSERTED_ALTERNATIVES and n == args.power_n and r.rate < POWER_MIN:
                failures.append(f"{method} {name} n={n}: power {r.rate:.3f} < {POWER_MIN}")
    for method in args.methods:
        table = [
            (r["scenario"] + ("" if r["clustered"] or "clustered" not in r["scenario"] else " (groups ignored)"),
             "null" if r["null"] else "alt", r["n"], r["reps"], f"{r['rate']:.3f}",
             f"[{r['interval'][0]:.3f}, {r['interval'][1]:.3f}]", f"{r['seconds']:.3f}")
            for r in rows if r["method"] == method
        ]  # fmt: skip
        print_table(
            f"{method}: rejection rate at α = 0.05",
            ["scenario", "truth", "n", "reps", "rate", "95% CI", "s/test"],
            table,
        )
    write_results(
        args.out, {"alpha": 0.05, "band": list(BAND), "power_min": POWER_MIN, "rows": rows, "failures": failures}
    )
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
