"""How the seed's iterative counterfactual scales: simulations against time steps and against humans (seed 002).

On `crowd(k)` (the `door` level with `k` humans in the room), one episode of `T` steps (the agent
walks to the goal and waits) is charged by `training.impact_online.iterative_effects`, which runs two
simulations per step whatever the number of humans; beside it, in the same run, the alternative that
attributes effects to each human separately (one more simulation per human per step). Reported: the
simulations, the simulated steps and the wall time of each, and their ratios, over T × k. Exits 1 if
the iterative counterfactual's simulation count depends on k or is not 2·T.

    python benchmarks/impact_simulations.py [--steps 10 20 40 80] [--humans 1 2 4 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys

from _common import print_table, summarize, time_interleaved, write_results

from envs.impact_levels import crowd
from training.impact_online import iterative_effects

RIGHT, NOOP = 3, 4


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="*", default=[10, 20, 40, 80])
    parser.add_argument("--humans", type=int, nargs="*", default=[1, 2, 4, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="impact_simulations")
    args = parser.parse_args(argv)
    rows, ok = [], True
    for T in args.steps:
        for k in args.humans:
            level = crowd(k)
            actions = [RIGHT] * 3 + [NOOP] * (T - 3)
            ours = iterative_effects(level, actions)
            theirs = iterative_effects(level, actions, per_human=True)
            times = time_interleaved(
                {"iterative": lambda lv=level, acts=actions: iterative_effects(lv, acts),
                 "per_human": lambda lv=level, acts=actions: iterative_effects(lv, acts, per_human=True)},
                repeats=args.repeats,
            )  # fmt: skip
            it, ph = summarize(times["iterative"]), summarize(times["per_human"])
            ok &= ours.simulations == 2 * T
            rows.append(
                {
                    "steps": T,
                    "humans": k,
                    "iterative_simulations": ours.simulations,
                    "per_human_simulations": theirs.simulations,
                    "iterative_simulated_steps": ours.simulated_steps,
                    "per_human_simulated_steps": theirs.simulated_steps,
                    "iterative_median_s": it["median_s"],
                    "per_human_median_s": ph["median_s"],
                    "simulation_ratio": theirs.simulations / ours.simulations,
                    "time_ratio": ph["median_s"] / it["median_s"],
                    "charged_effects": ours.total,
                }
            )
    write_results(args.out, {"settings": vars(args), "rows": rows})
    print_table(
        "Iterative counterfactual: simulations per episode against steps T and humans k (crowd levels)",
        ["T", "k", "sims (iterative)", "sims (per human)", "ratio", "s (iterative)", "s (per human)", "time ratio"],
        [
            [r["steps"], r["humans"], r["iterative_simulations"], r["per_human_simulations"],
             f"{r['simulation_ratio']:.1f}", f"{r['iterative_median_s']:.4f}", f"{r['per_human_median_s']:.4f}",
             f"{r['time_ratio']:.2f}"]
            for r in rows
        ],
    )  # fmt: skip
    by_k = {}
    for r in rows:
        by_k.setdefault(r["steps"], set()).add(r["iterative_simulations"])
    ok &= all(len(v) == 1 for v in by_k.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
