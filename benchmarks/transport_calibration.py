"""How often the default transport test and its verdicts are wrong, on every scenario with known truth.

For each scenario of `analysis.SCENARIOS` (or those in `--scenarios`), `analysis.verdict_rates`
runs `transport_test(y_b, s, y_m)` (method `auto`: the projected covariance measure) on fresh draws
(fixed seeds, no retries) of `--n` rows: `--reps` datasets per null, `--power-reps` per
alternative. It reports the rejection rate at α = 0.05 (type-I error on nulls, power on
alternatives), the share of each verdict, the true and the mean estimated `‖τ‖₂`, and the wrong
claims: `regime-dependent` on a null, `transports` on an alternative whose `‖τ‖₂` exceeds the
margin. Exits 1 when a target is missed: type-I outside [0.03, 0.07], power below 0.9, more than
5 % false certificates or more than 7 % `regime-dependent` on a null.

    python benchmarks/transport_calibration.py [--n 2000] [--reps 1000] [--power-reps 200] [--scenarios ...]
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
from _common import print_table, write_results
from rich.progress import Progress

from analysis import SCENARIOS
from analysis.calibration import verdict_rates

BAND = (0.03, 0.07)
POWER_MIN = 0.9
MAX_FALSE_CERTIFICATES = 0.05
MAX_FALSE_ALARMS = 0.07


def failures_of(r: dict) -> list[str]:
    """The targets row `r` (a `VerdictRates.to_dict()`) misses."""
    out = []
    name = f"{r['scenario']} n={r['n']}"
    if r["null"] and not BAND[0] <= r["rejection"] <= BAND[1]:
        out.append(f"{name}: type-I {r['rejection']:.3f} outside {BAND}")
    if not r["null"] and r["rejection"] < POWER_MIN:
        out.append(f"{name}: power {r['rejection']:.3f} < {POWER_MIN}")
    if r["wrong"] is not None and r["wrong"] > (MAX_FALSE_ALARMS if r["null"] else MAX_FALSE_CERTIFICATES):
        out.append(f"{name}: wrong verdicts {r['wrong']:.3f}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--power-reps", type=int, default=200)
    parser.add_argument("--margin", type=float, default=0.1)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS))
    parser.add_argument("--out", default="transport_calibration")
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    plan = [(name, args.reps if SCENARIOS[name].null else args.power_reps) for name in args.scenarios]
    rows, failures = [], []
    with Progress() as progress:
        task = progress.add_task("verdicts", total=sum(reps for _, reps in plan))
        for name, reps in plan:
            progress.update(task, description=f"{name} · n={args.n}")
            r = verdict_rates(
                name, n=args.n, reps=reps, margin=args.margin, seed=1, progress=lambda k: progress.advance(task, k)
            ).to_dict()
            rows.append(r)
            failures += failures_of(r)
    table = [
        (r["scenario"], "null" if r["null"] else "alt", r["reps"], f"{r['rejection']:.3f}",
         f"[{r['rejection_interval'][0]:.3f}, {r['rejection_interval'][1]:.3f}]",
         f"{r['shares']['transports']:.3f}", f"{r['shares']['regime-dependent']:.3f}",
         f"{r['magnitude']:.3f}", f"{r['mean_magnitude']:.3f}", f"{r['seconds']:.2f}")
        for r in rows
    ]  # fmt: skip
    print_table(
        f"transport test (auto) at n = {args.n}, α = 0.05, margin ±{args.margin:g}",
        ["scenario", "truth", "reps", "reject", "95% CI", "transports", "regime-dep.", "‖τ‖₂", "mean est.", "s/test"],
        table,
    )
    write_results(
        args.out,
        {
            "alpha": 0.05,
            "margin": args.margin,
            "band": list(BAND),
            "power_min": POWER_MIN,
            "max_false_certificates": MAX_FALSE_CERTIFICATES,
            "max_false_alarms": MAX_FALSE_ALARMS,
            "rows": rows,
            "failures": failures,
        },
    )
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
