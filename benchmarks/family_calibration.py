"""Calibration of the categorical-regime tests (families of deployment regimes) on known truth.

For each scenario of `analysis.scm_family.FAMILY_SCENARIOS` (or those in `--scenarios`),
`analysis.calibration.family_rates` runs `ci_test(y_b, s, y_m, categorical=True)` (method `auto`:
each regime against training by the projected covariance measure, the joint p-value max-type over
shared sign flips; the same p-values `transport_test` reports for a family) on fresh draws of
`--n` rows: `--reps` datasets per null, `--power-reps` per alternative. It reports the joint
test's rejection rate at α = 0.05 (type-I error on nulls, power on alternatives), the Holm
familywise rejection rate and the false `regime-dependent` claims (a Holm rejection of a regime
without an effect). Exits 1 when a target is missed: joint type-I outside [0.03, 0.07], power
below 0.9, or false claims above 0.07.

    python benchmarks/family_calibration.py [--n 2000] [--reps 1000] [--power-reps 200] [--scenarios ...]
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
from _common import print_table, write_results
from rich.progress import Progress

from analysis.calibration import family_rates
from analysis.scm_family import FAMILY_SCENARIOS

BAND = (0.03, 0.07)
POWER_MIN = 0.9
MAX_FALSE_CLAIMS = 0.07


def failures_of(r: dict) -> list[str]:
    """The targets row `r` (a `FamilyRates.to_dict()`) misses."""
    out = []
    name = f"{r['scenario']} n={r['n']}"
    if r["null"] and not BAND[0] <= r["joint"] <= BAND[1]:
        out.append(f"{name}: joint type-I {r['joint']:.3f} outside {BAND}")
    if not r["null"] and r["joint"] < POWER_MIN:
        out.append(f"{name}: joint power {r['joint']:.3f} < {POWER_MIN}")
    if r["wrong"] > MAX_FALSE_CLAIMS:
        out.append(f"{name}: false regime-dependent claims {r['wrong']:.3f} > {MAX_FALSE_CLAIMS}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=1000, help="datasets per null scenario")
    parser.add_argument("--power-reps", type=int, default=200, help="datasets per alternative")
    parser.add_argument("--scenarios", nargs="*", default=list(FAMILY_SCENARIOS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="family_calibration")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("MESAPROBE_BENCH_THREADS", "1")))
    rows = []
    with Progress() as progress:
        for name in args.scenarios:
            sc = FAMILY_SCENARIOS[name]
            reps = args.reps if sc.null else args.power_reps
            task = progress.add_task(name, total=reps)
            r = family_rates(
                name, n=args.n, reps=reps, seed=args.seed, progress=lambda k, t=task: progress.advance(t, k)
            )
            rows.append({**r.to_dict(), "difficulties": list(sc.difficulties), "description": sc.description})
            write_results(
                args.out, {"settings": vars(args), "rows": rows}
            )  # after every scenario: partial results survive
    print_table(
        "Categorical-regime tests (joint: max-type PCM; per regime: Holm)",
        ["scenario", "k", "null", "reps", "joint rate", "95% CI", "Holm any", "false claims", "s/test"],
        [
            [r["scenario"], r["k"], r["null"], r["reps"], f"{r['joint']:.3f}",
             f"[{r['joint_interval'][0]:.3f}, {r['joint_interval'][1]:.3f}]", f"{r['holm_any']:.3f}",
             f"{r['wrong']:.3f}", f"{r['seconds']:.2f}"]
            for r in rows
        ],
    )  # fmt: skip
    failures = [f for r in rows for f in failures_of(r)]
    for f in failures:
        print("MISSED:", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
