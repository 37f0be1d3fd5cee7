"""Calibration of the counterfactual oracle's leakage check (seed 001) on worlds whose answer is known.

For each design of `analysis.oracle.LEAKAGE_DESIGNS` (or those in `--designs`),
`analysis.oracle.leakage_rate` deploys a prediction rule in OracleWorld for `--episodes` episodes
with Gaussian exploration and runs `leakage_check` (`ci_test` of the observation against the
exploration draw given the history, on erased rounds, episodes as the units): `--reps`
deployments per sound design (type-I error at α = 0.05), `--power-reps` per leaky one (power).
Exits 1 when a target is missed: type-I outside [0.03, 0.07] or power below 0.9.

    python benchmarks/leakage_calibration.py [--episodes 200] [--reps 1000] [--power-reps 200] [--designs ...]
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
from _common import print_table, write_results
from rich.progress import Progress

from analysis.oracle import LEAKAGE_DESIGNS, leakage_rate

BAND = (0.03, 0.07)
POWER_MIN = 0.9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--reps", type=int, default=1000, help="deployments per sound design")
    parser.add_argument("--power-reps", type=int, default=200, help="deployments per leaky design")
    parser.add_argument("--designs", nargs="*", default=list(LEAKAGE_DESIGNS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="leakage_calibration")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("MESAPROBE_BENCH_THREADS", "1")))
    rows = []
    with Progress() as progress:
        for name in args.designs:
            d = LEAKAGE_DESIGNS[name]
            reps = args.reps if d.sound else args.power_reps
            task = progress.add_task(name, total=reps)
            r = leakage_rate(
                name,
                reps=reps,
                n_episodes=args.episodes,
                seed=args.seed,
                progress=lambda k, t=task: progress.advance(t, k),
            )
            rows.append({**r.to_dict(), "description": d.description, "env_kwargs": d.env_kwargs})
            write_results(args.out, {"settings": vars(args), "rows": rows})  # after every design
    print_table(
        "Leakage check of the counterfactual oracle (o ⊥ exploration | history on erased rounds)",
        ["design", "sound", "reps", "rejection rate", "95% CI", "method", "s/test"],
        [
            [r["scenario"], r["null"], r["reps"], f"{r['rate']:.3f}", f"[{r['interval'][0]:.3f}, {r['interval'][1]:.3f}]",
             r["method"], f"{r['seconds']:.2f}"]
            for r in rows
        ],
    )  # fmt: skip
    failures = [
        f"{r['scenario']}: rate {r['rate']:.3f}"
        for r in rows
        if (r["null"] and not BAND[0] <= r["rate"] <= BAND[1]) or (not r["null"] and r["rate"] < POWER_MIN)
    ]
    for f in failures:
        print("MISSED:", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
