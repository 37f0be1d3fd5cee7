"""Batched environments: CheeseMaze's numpy implementation vs Gymnasium's SyncVectorEnv vs MiniGrid.

Environment steps per second (vector steps × `num_envs`) with random actions drawn up front and
Gymnasium's next-step autoreset, for:
- `mesaprobe/CheeseMaze-v0` built with `gymnasium.make_vec(..., vectorization_mode="vector_entry_point")`
  (the batched `envs.CheeseMazeVectorEnv`);
- the same id with `vectorization_mode="sync"` (a `SyncVectorEnv` of `CheeseMazeEnv` copies; the
  two give identical episodes, checked in tests/envs/test_cheese_maze.py);
- `MiniGrid-Empty-8x8-v0` in a `SyncVectorEnv` (what users run today).

    python benchmarks/vector_envs.py [--steps 2000] [--repeats 5] [--num-envs 16 64]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import gymnasium as gym
import minigrid  # noqa: F401  (registers the MiniGrid-* ids)
import numpy as np
from _common import print_table, summarize, time_interleaved, write_results

import envs  # noqa: F401  (registers mesaprobe/*)

CM_ID, MG_ID = "mesaprobe/CheeseMaze-v0", "MiniGrid-Empty-8x8-v0"


def vec_loop(vec: gym.vector.VectorEnv, n_steps: int) -> Callable[[], None]:
    """`n_steps` vector steps with random actions (autoreset inside the vector env)."""
    n_actions = int(vec.single_action_space.n)
    actions = np.random.default_rng(0).integers(n_actions, size=(n_steps, vec.num_envs))

    def run() -> None:
        vec.reset(seed=0)
        for a in actions:
            vec.step(a)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2_000, help="vector steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--num-envs", type=int, nargs="+", default=[16, 64])
    args = parser.parse_args()

    rows, results = [], {}
    for n in args.num_envs:
        variants = {
            "CheeseMaze batched (vector_entry_point)": gym.make_vec(
                CM_ID, num_envs=n, vectorization_mode="vector_entry_point"
            ),
            "CheeseMaze SyncVectorEnv": gym.make_vec(CM_ID, num_envs=n, vectorization_mode="sync"),
            "MiniGrid Empty-8x8 SyncVectorEnv": gym.make_vec(MG_ID, num_envs=n, vectorization_mode="sync"),
        }
        times = time_interleaved({k: vec_loop(v, args.steps) for k, v in variants.items()}, repeats=args.repeats)
        stats = {k: summarize(t, args.steps * n) for k, t in times.items()}
        fast = stats["CheeseMaze batched (vector_entry_point)"]["median_per_s"]
        for k, s in stats.items():
            rows.append(
                (n, k, f"{s['median_per_s']:,.0f}", f"{s['best_per_s']:,.0f}", f"{fast / s['median_per_s']:.2f}")
            )
        results[str(n)] = {
            "stats": stats,
            "batched/sync": fast / stats["CheeseMaze SyncVectorEnv"]["median_per_s"],
            "batched/minigrid": fast / stats["MiniGrid Empty-8x8 SyncVectorEnv"]["median_per_s"],
        }
        for v in variants.values():
            v.close()
    print_table(
        f"vector env throughput ({args.steps} vector steps/repeat, median and best of {args.repeats})",
        ["num_envs", "variant", "env steps/s (median)", "env steps/s (best)", "batched CheeseMaze ×"],
        rows,
        left=2,
    )
    write_results("vector_envs", {"settings": vars(args), "results": results})


if __name__ == "__main__":
    main()
